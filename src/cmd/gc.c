/* `sentinel gc`: collects unreferenced blobs, expired upload sessions and
 * staging files a crash left, on a server's data directory. A dry run by
 * default; --apply deletes. Safe beside a live server (blob_gc re-checks
 * each removal under the lock the server's writes hold). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/cfg.h"
#include "base/mem.h"
#include "base/util.h"
#include "blob/blob.h"
#include "cmd/commands.h"
#include "store/store.h"

static const cfg_opt gc_opts[] = {
	{ "data", "DIR", "./sentinel-data", "the server's data directory", 0 },
	{ "db", "URL", NULL, "the server's store, if not sqlite:DIR/sentinel.db", 0 },
	{ "apply", NULL, NULL, "delete (without it: only list what would go)", CFG_FLAG | CFG_NOENV },
	{ "grace", "DUR", "1h", "keep unreferenced blobs younger than this (at least 1m)", 0 },
	{ NULL, NULL, NULL, NULL, 0 },
};
static const cfg_spec gc_spec = {
	"gc", "[--data DIR] [--apply]",
	"Find blobs no record references (older than --grace and than the oldest open\n"
	"upload session), expired upload sessions and stale staging files; list them\n"
	"with their size, or delete them with --apply.",
	gc_opts, 0,
};

static void print_blob(void *ctx, const char *sha, uint64_t bytes)
{
	(void)ctx;
	printf("%s %" PRIu64 "\n", sha, bytes);
}

/* The server's store with the blob schema; a missing SQLite file is an
 * error (a wrong --data), not a new database. */
static int open_store(const char *data, const char *db, store **st, char *err, size_t errlen)
{
	const store_domain *const domains[] = { &blob_store_domain };
	store_opts so = { .domains = domains, .ndomains = 1, .pool_size = 1 };
	char *url = db ? xstrdup(db) : xasprintf("sqlite:%s/sentinel.db", data);
	const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : strstr(url, "://") ? NULL : url;
	int rc;
	if (path && access(path, F_OK) != 0) {
		snprintf(err, errlen, "no database at %s (wrong --data?)", path);
		rc = -ENOENT;
	} else {
		rc = store_open(url, &so, st, err, errlen);
	}
	free(url);
	return rc;
}

int gc_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	store *st = NULL;
	blob_store *bs = NULL;
	blob_gc_stats s;
	char err[512] = "";
	int64_t grace;
	int code;
	if (cfg_cmd_init(&gc_spec, argc, argv, &c, &code))
		return code;
	code = 2;
	if (cfg_get_duration_ms(c, "grace", &grace, err, sizeof err) || grace < BLOB_GC_GRACE_MIN_MS) {
		fprintf(stderr, "sentinel gc: --grace must be a duration of at least 1m\n");
		goto out;
	}
	code = 1;
	const char *data = cfg_get(c, "data");
	int apply = cfg_get_bool(c, "apply");
	if (open_store(data, cfg_get(c, "db"), &st, err, sizeof err) ||
	    blob_store_open(data, st, 0, &bs, err, sizeof err)) {
		fprintf(stderr, "sentinel gc: %s\n", err);
		goto out;
	}
	int rc = blob_gc(bs, sn_now_ms(), grace, apply, print_blob, NULL, &s);
	if (rc) {
		fprintf(stderr, "sentinel gc: %s\n", rc == STORE_EBUSY ? "the store is busy; try again"
						       : strerror(rc < 0 ? -rc : rc));
		goto out;
	}
	printf("%s %" PRIu64 " unreferenced blobs (%" PRIu64 " bytes), %" PRIu64
	       " expired upload sessions, %" PRIu64 " stale staging files; %" PRIu64
	       " unreferenced blobs kept (younger than the grace or an open upload)\n",
	       apply ? "deleted" : "would delete", s.blobs, s.bytes, s.sessions, s.staging,
	       s.kept_young);
	if (!apply)
		printf("dry run: nothing deleted (--apply deletes)\n");
	else if (s.blobs || s.sessions || s.staging)
		admin_audit_local(data, cfg_get(c, "db"), "blob.gc", NULL, 200);
	code = 0;
out:
	blob_store_free(&bs);
	store_free(&st);
	cfg_free(&c);
	return code;
}
