/* Signs node requests for the integration tests (base/sig.h), so that a
 * test can send signed, tampered, stale or replayed requests with curl.
 *   nodesign keygen FILE      a key pair; FILE holds the secret key as 128 hex
 *   nodesign id FILE          the node id of FILE's key
 *   nodesign code FILE        its claim code
 *   nodesign sign FILE METHOD TARGET [BODYFILE [TS_MS]]
 *                             the five X-Sentinel-* headers, one per line,
 *                             "Name: value" (TS_MS: the timestamp to sign,
 *                             default now) */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/sig.h"
#include "base/util.h"

static int load(const char *path, uint8_t sec[SN_SIG_SEC])
{
	char *text = NULL;
	size_t len;
	int rc = sn_read_file(path, 4096, &text, &len);
	if (rc == 0) {
		text[strcspn(text, "\n")] = '\0';
		rc = sn_unhex(text, sec, SN_SIG_SEC);
	}
	free(text);
	if (rc)
		fprintf(stderr, "nodesign: cannot read the key in %s\n", path);
	return rc;
}

static int sign(const uint8_t sec[SN_SIG_SEC], int argc, char **argv)
{
	char *body = NULL;
	size_t len = 0;
	int64_t ts = sn_now_ms();
	if (argc > 5 && argv[5][0] && sn_read_file(argv[5], (size_t)64 << 20, &body, &len)) {
		fprintf(stderr, "nodesign: cannot read %s\n", argv[5]);
		return 1;
	}
	if (argc > 6)
		ts = strtoll(argv[6], NULL, 10);
	sn_sig_headers h;
	int rc = sn_sig_sign(sec, argv[3], argv[4], ts, body, len, &h);
	free(body);
	if (rc) {
		fprintf(stderr, "nodesign: cannot sign: %s\n", strerror(-rc));
		return 1;
	}
	printf("%s: %s\n%s: %s\n%s: %s\n%s: %s\n%s: %s\n", SN_SIG_HDR_KEY, h.key, SN_SIG_HDR_TS, h.ts,
	       SN_SIG_HDR_NONCE, h.nonce, SN_SIG_HDR_BODY, h.body, SN_SIG_HDR_SIG, h.sig);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t pub[SN_SIG_PUB], sec[SN_SIG_SEC];
	char hex[2 * SN_SIG_SEC + 2], code[7];
	if (argc < 3 || (strcmp(argv[1], "sign") == 0 && argc < 5)) {
		fprintf(stderr, "usage: nodesign keygen|id|code FILE | sign FILE METHOD TARGET"
			" [BODYFILE [TS_MS]]\n");
		return 2;
	}
	if (strcmp(argv[1], "keygen") == 0) {
		if (sn_sig_keygen(pub, sec))
			return 1;
		sn_hex(sec, SN_SIG_SEC, hex);
		hex[2 * SN_SIG_SEC] = '\n';
		hex[2 * SN_SIG_SEC + 1] = '\0';
		return sn_write_file_atomic(argv[2], hex, strlen(hex), 0600) ? 1 : 0;
	}
	if (load(argv[2], sec))
		return 1;
	memcpy(pub, sec + 32, SN_SIG_PUB); /* libsodium: sec = seed || pub */
	if (strcmp(argv[1], "id") == 0) {
		char h[65];
		sn_sha256_hex(pub, SN_SIG_PUB, h);
		printf("nd_%.20s\n", h);
		return 0;
	}
	if (strcmp(argv[1], "code") == 0) {
		sn_sig_claim_code(pub, code);
		printf("%s\n", code);
		return 0;
	}
	if (strcmp(argv[1], "sign") == 0)
		return sign(sec, argc, argv);
	fprintf(stderr, "nodesign: unknown command %s\n", argv[1]);
	return 2;
}
