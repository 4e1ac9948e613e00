/* A webhook receiver for the alert tests: listens on 127.0.0.1 (a free
 * port, written to PORTFILE once listening), answers every request 200 and
 * appends its body as one line to OUTFILE (flushed at once, so a test can
 * poll the file). One request per connection; runs until killed.
 *
 *   webhook_sink PORTFILE OUTFILE [--hang]
 *
 * --hang: a dead webhook that costs its caller the whole timeout: it
 * listens (connections complete in the backlog) but never reads. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX (1 << 20)

/* Reads one request; returns the body's offset in buf and its length. */
static int read_request(int fd, char *buf, size_t *body_off, size_t *body_len)
{
	size_t n = 0, clen = 0;
	char *end = NULL;
	int continued = 0;
	for (;;) {
		if (n == REQ_MAX)
			return -1;
		ssize_t k = read(fd, buf + n, REQ_MAX - n);
		if (k <= 0)
			return -1;
		n += (size_t)k;
		buf[n] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			for (char *l = strstr(buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
				if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
					clen = strtoul(l + 17, NULL, 10);
				if (strncasecmp(l + 2, "Expect: 100-continue", 20) == 0 && !continued) {
					static const char c[] = "HTTP/1.1 100 Continue\r\n\r\n";
					continued = write(fd, c, sizeof c - 1) > 0;
				}
			}
		}
		if (end && n - (size_t)(end + 4 - buf) >= clen) {
			*body_off = (size_t)(end + 4 - buf);
			*body_len = clen;
			return 0;
		}
	}
}

int main(int argc, char **argv)
{
	int hang = argc == 4 && strcmp(argv[3], "--hang") == 0;
	if (argc != 3 && !hang) {
		fprintf(stderr, "usage: webhook_sink PORTFILE OUTFILE [--hang]\n");
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64) ||
	    getsockname(s, (struct sockaddr *)&a, &al)) {
		perror("webhook_sink");
		return 1;
	}
	FILE *out = fopen(argv[2], "a"), *pf = fopen(argv[1], "w");
	if (!out || !pf) {
		perror("webhook_sink");
		return 1;
	}
	fprintf(pf, "%u\n", ntohs(a.sin_port));
	fclose(pf);
	while (hang)
		pause();
	char *buf = malloc(REQ_MAX + 1);
	for (;;) {
		int c = accept(s, NULL, NULL);
		size_t off, len;
		if (c < 0)
			continue;
		if (read_request(c, buf, &off, &len) == 0) {
			static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
						 "Connection: close\r\n\r\n";
			fwrite(buf + off, 1, len, out);
			fputc('\n', out);
			fflush(out);
			if (write(c, ok, sizeof ok - 1) < 0)
				perror("webhook_sink: write");
		}
		close(c);
	}
}
