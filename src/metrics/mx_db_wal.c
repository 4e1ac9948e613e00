/* The metrics store's write-ahead log: group commits in lanes, and replay.
 *
 * A generation of the log is one file per lane, DIR/wal.<gen>.<lane>
 * (DIR/wal.<gen> from a single-lane log is read as lane 0), a sequence
 * of records:
 *   u32 payload length, u32 CRC32C of (lsn, payload), u64 lsn, payload
 * (little endian). Payload: varint ndefs, ndefs × (varint sid, varint
 * length, agent \x1f metric \x1f tags), varint n, n × (varint sid, zigzag
 * varint ts - previous ts, 8 bytes value). A record is a whole batch, so
 * replay applies a batch entirely or not at all: in each file the first
 * record that is short or fails its CRC ends the file (a torn tail) and is
 * cut off; then the records of all files are applied in lsn order.
 *
 * Lanes: a synced write costs a disk round trip, and syncs of separate
 * files overlap, so MX_LANES threads take turns: the lane whose turn it
 * is takes every queued batch (up to MX_GROUP_MAX samples) as its group,
 * gives it the next lsns, passes the turn on, writes the group with one
 * writev and fdatasyncs, while the next lane already takes what queued
 * meanwhile. On a disk whose syncs average under lane_min_us the lane
 * keeps the turn: the next group forms during the sync and is larger,
 * and no second thread is woken (CPU, not the disk, bounds ingest there). Groups are applied to memory (hl, never held across a sync)
 * in lsn order, each after its own sync and the previous group's apply;
 * then only that group's appenders are woken. A failed write is
 * truncated away so later records stay readable, and its lsns are passed
 * over. A record that lost its tail was never acknowledged, and a later
 * record of another lane does not depend on it (invariant 3 of mx_db.c:
 * definitions are repeated until a record holding them is applied).
 *
 * Own groups (mx_wal_commit): an event loop commits its turn's requests
 * on its own thread, on a lane of its own choosing, with the lane's lock
 * taken before its lsns as a lane thread takes them (mx_wal_rotate relies
 * on it), then applies in lsn order as above. It saves the hand-off to a
 * lane thread and the wake-up back (small groups only: mx_db_commit_local):
 * on the ingest listener those were most of its context switches (0.30 a
 * request, 0.12 with own groups) and about an eighth of its CPU a request
 * (docs/metrics.md).
 *
 * Preallocation: an fdatasync that changes a file's size also writes its
 * inode, one more synchronous I/O per group (on this box's ext4 it
 * doubled a small synced write, 75 -> 150 us; the ingest listener's
 * median group sync went from about 220 to 110 us without it, and the
 * inode writes were about 5% of its CPU). So a lane writes zeros ahead
 * of its records, MX_WAL_PREALLOC bytes at a time, and a group that lands
 * in them changes no size: its sync writes only its data. (Shorter syncs
 * make smaller groups, so requests/s on 2 cores, bound by CPU, hardly
 * moved.) Records are written at the
 * lane's size (pwritev, not O_APPEND); replay ends a file at its first
 * header of length 0, and a tail of zeros after the last good record is
 * that space, not damage. A failed write still truncates at the last good
 * record, zeros included, so nothing of it can be read back later. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "metrics/mx_db_int.h"

#define MX_GROUP_MAX 65536
#define REC_HDR 16
#define REC_MAX (256u << 20)
/* Zeros written ahead of a lane's records (a group smaller than a sixteenth
 * of it pads the file to the next multiple): larger groups pay the inode
 * write once for much data, and padding them would write their bytes
 * twice. */
#define MX_WAL_PREALLOC (512u << 10)

struct mx_req;
struct mx_req *mx_req_next(struct mx_req *r);
void mx_req_payload(struct mx_req *r, const uint8_t **p, size_t *len, size_t *nsamples);
void mx_req_finish(struct mx_req *r, int rc);
void mx_db_apply_req(mx_db *db, struct mx_req *r, uint64_t lsn);

/* ---- CRC32C --------------------------------------------------------- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c64 = c;
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
	}
	c = (uint32_t)c64;
	for (; n; n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t mx_crc32c(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;
	pthread_once(&crc_once, crc_init);
	uint32_t c = ~crc;
#if defined(__x86_64__)
	if (crc_hw)
		return ~crc_sse(c, p, n);
#endif
	for (; n >= 8; n -= 8, p += 8) {
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
	}
	for (; n; n--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- Files ---------------------------------------------------------- */

typedef struct walf {
	uint64_t gen;
	unsigned lane;
	int legacy; /* wal.<gen>: a single-lane log */
} walf;

static int cmp_walf(const void *a, const void *b)
{
	const walf *x = a, *y = b;
	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return (x->lane > y->lane) - (x->lane < y->lane);
}

static char *walf_path(const char *dir, const walf *f)
{
	if (f->legacy)
		return xasprintf("%s/wal.%llu", dir, (unsigned long long)f->gen);
	return xasprintf("%s/wal.%llu.%u", dir, (unsigned long long)f->gen, f->lane);
}

/* The log files in dir, sorted by generation and lane. */
static size_t wal_files(const char *dir, walf **out)
{
	DIR *d = opendir(dir);
	size_t n = 0, cap = 0;
	walf *g = NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char *end;
		if (strncmp(e->d_name, "wal.", 4) != 0 || !e->d_name[4] || e->d_name[4] == '.')
			continue;
		walf f = { strtoull(e->d_name + 4, &end, 10), 0, 1 };
		if (*end == '.' && end[1]) {
			unsigned long l = strtoul(end + 1, &end, 10);
			if (l >= 1000)
				continue;
			f.lane = (unsigned)l;
			f.legacy = 0;
		}
		if (*end)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			g = xrealloc(g, cap * sizeof *g);
		}
		g[n++] = f;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(g, n, sizeof *g, cmp_walf);
	*out = g;
	return n;
}

/* Opens every lane's file of gen into fds (all or none). */
static int open_gen(mx_db *db, uint64_t gen, int fds[MX_LANES])
{
	int rc = 0;
	unsigned i;
	for (i = 0; i < MX_LANES; i++) {
		char *path = walf_path(db->dir, &(walf){ gen, i, 0 });
		fds[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		free(path);
		if (fds[i] < 0) {
			rc = -errno;
			break;
		}
	}
	if (!rc)
		rc = sn_fsync_dir(db->dir);
	if (rc)
		for (unsigned j = 0; j < i + (i < MX_LANES && fds[i] >= 0); j++) {
			close(fds[j]);
			char *path = walf_path(db->dir, &(walf){ gen, j, 0 });
			unlink(path);
			free(path);
		}
	return rc;
}

/* Lanes' mu held, or no writer yet. */
static void use_gen(mx_db *db, uint64_t gen, const int fds[MX_LANES])
{
	for (unsigned i = 0; i < MX_LANES; i++) {
		if (db->lanes[i].fd >= 0)
			close(db->lanes[i].fd);
		db->lanes[i].fd = fds[i];
		db->lanes[i].size = 0;
		db->lanes[i].alloc = 0;
	}
	db->walgen = gen;
	atomic_store(&db->wal_bytes, 0);
}

int mx_wal_start(mx_db *db, uint64_t gen)
{
	int fds[MX_LANES];
	int rc = open_gen(db, gen, fds);
	if (!rc)
		use_gen(db, gen, fds);
	return rc;
}

int mx_wal_rotate(mx_db *db, uint64_t *gen)
{
	for (unsigned i = 0; i < MX_LANES; i++)
		pthread_mutex_lock(&db->lanes[i].mu);
	int fds[MX_LANES];
	*gen = db->walgen + 1;
	int rc = atomic_load(&db->broken) ? -EIO : open_gen(db, *gen, fds);
	if (!rc)
		use_gen(db, *gen, fds);
	/* Every group up to last is in an older file; later ones go to the
	 * new files. */
	pthread_mutex_lock(&db->qmu);
	uint64_t last = db->lsn;
	pthread_mutex_unlock(&db->qmu);
	for (unsigned i = MX_LANES; i-- > 0;)
		pthread_mutex_unlock(&db->lanes[i].mu);
	if (rc)
		return rc;
	pthread_mutex_lock(&db->applymu);
	while (db->done_lsn < last)
		pthread_cond_wait(&db->applycv, &db->applymu);
	pthread_mutex_unlock(&db->applymu);
	return 0;
}

void mx_wal_close(mx_db *db)
{
	for (unsigned i = 0; i < MX_LANES; i++)
		if (db->lanes[i].fd >= 0) {
			close(db->lanes[i].fd);
			db->lanes[i].fd = -1;
		}
}

void mx_wal_remove_below(mx_db *db, uint64_t gen)
{
	walf *g = NULL;
	size_t n = wal_files(db->dir, &g);
	for (size_t i = 0; i < n && g[i].gen < gen; i++) {
		char *path = walf_path(db->dir, &g[i]);
		unlink(path);
		free(path);
	}
	free(g);
}

/* ---- Replay --------------------------------------------------------- */

static int replay_payload(mx_db *db, const uint8_t *p, size_t len, uint64_t lsn)
{
	mx_rd r = { p, p + len, 0 };
	uint64_t ndefs = mx_get_uvar(&r);
	for (uint64_t i = 0; i < ndefs && !r.err; i++) {
		uint64_t sid = mx_get_uvar(&r), kl = mx_get_uvar(&r);
		if (r.err || kl > (uint64_t)(r.end - r.p) || sid == 0 || sid > db->max_series)
			return -EINVAL;
		char *key = xstrndup((const char *)r.p, kl);
		r.p += kl;
		char *m = strchr(key, '\x1f'), *t = m ? strchr(m + 1, '\x1f') : NULL;
		mx_series *s = NULL;
		int rc = -EINVAL;
		if (t) {
			*m = *t = '\0';
			rc = mx_db_series_add(db, (uint32_t)sid, key, m + 1, t + 1, &s);
		}
		free(key);
		if (rc && rc != -EEXIST)
			return rc;
	}
	uint64_t n = mx_get_uvar(&r);
	int64_t ts = 0;
	for (uint64_t i = 0; i < n && !r.err; i++) {
		uint64_t sid = mx_get_uvar(&r);
		ts += mx_get_svar(&r);
		double v = mx_get_f64(&r);
		mx_series *s = sid && sid <= db->max_series ? mx_db_series(db, (uint32_t)sid) : NULL;
		if (r.err)
			break;
		if (!s)
			return -EINVAL;
		/* Invariant 2: what the row holds is not applied again. */
		if (lsn > s->lsn_loaded) {
			mx_db_apply(db, s, ts, v, lsn);
			atomic_fetch_add(&db->nsamples, 1);
		}
	}
	return r.err ? -EINVAL : 0;
}

/* One file's records, read whole. */
typedef struct wfile {
	char *path;
	int fd;
	uint8_t *data;
	size_t size, end; /* end: after the last good record */
} wfile;

typedef struct wrec {
	uint64_t lsn;
	uint32_t file;
	uint32_t len;
	size_t off;
} wrec;

static int cmp_wrec(const void *a, const void *b)
{
	const wrec *x = a, *y = b;
	if (x->lsn != y->lsn)
		return x->lsn < y->lsn ? -1 : 1;
	return (x->file > y->file) - (x->file < y->file);
}

/* Reads f and appends its good records to *recs. */
static int scan_file(wfile *f, uint32_t idx, wrec **recs, size_t *n, size_t *cap)
{
	f->fd = open(f->path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(f->fd, &sb))
		return -errno;
	f->size = (size_t)sb.st_size;
	f->data = xmalloc(f->size ? f->size : 1);
	for (size_t got = 0; got < f->size;) {
		ssize_t k = pread(f->fd, f->data + got, f->size - got, (off_t)got);
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		got += (size_t)k;
	}
	size_t off = 0;
	while (off + REC_HDR <= f->size) {
		const uint8_t *h = f->data + off;
		uint32_t len = (uint32_t)get_le(h, 4), crc = (uint32_t)get_le(h + 4, 4);
		if (len == 0 || len > REC_MAX || off + REC_HDR + len > f->size ||
		    mx_crc32c(0, h + 8, 8 + (size_t)len) != crc)
			break;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*recs = xrealloc(*recs, *cap * sizeof **recs);
		}
		(*recs)[(*n)++] = (wrec){ get_le(h + 8, 8), idx, len, off };
		off += REC_HDR + len;
	}
	f->end = off;
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int mx_wal_replay(mx_db *db, uint64_t *maxgen, char *err, size_t errlen)
{
	walf *g = NULL;
	size_t n = wal_files(db->dir, &g), nrec = 0, caprec = 0;
	wfile *f = xcalloc(n ? n : 1, sizeof *f);
	wrec *recs = NULL;
	int rc = 0;
	*maxgen = 0;
	for (size_t i = 0; i < n; i++)
		f[i].fd = -1;
	for (size_t i = 0; i < n && !rc; i++) {
		f[i].path = walf_path(db->dir, &g[i]);
		rc = scan_file(&f[i], (uint32_t)i, &recs, &nrec, &caprec);
		if (rc)
			snprintf(err, errlen, "metrics: cannot read %s: %s", f[i].path, strerror(-rc));
		*maxgen = g[i].gen;
	}
	if (rc)
		goto out;
	if (nrec)
		qsort(recs, nrec, sizeof *recs, cmp_wrec);
	pthread_rwlock_wrlock(&db->hl);
	for (size_t i = 0; i < nrec; i++) {
		wfile *w = &f[recs[i].file];
		if (recs[i].off >= w->end)
			continue; /* past a damaged record of its file */
		if (replay_payload(db, w->data + recs[i].off + REC_HDR, recs[i].len, recs[i].lsn)) {
			/* A good CRC over a bad payload: the file ends here. */
			w->end = recs[i].off;
			continue;
		}
		if (recs[i].lsn > db->lsn)
			db->lsn = recs[i].lsn;
	}
	pthread_rwlock_unlock(&db->hl);
	for (size_t i = 0; i < n && !rc; i++) {
		if (f[i].end >= f[i].size || all_zero(f[i].data + f[i].end, f[i].size - f[i].end))
			continue; /* whole, or followed by preallocated zeros only */
		log_warn("metrics: %s: cut off %zu bytes of a torn or damaged tail", f[i].path,
			 f[i].size - f[i].end);
		if (ftruncate(f[i].fd, (off_t)f[i].end) || fdatasync(f[i].fd)) {
			rc = -errno;
			snprintf(err, errlen, "metrics: cannot cut %s: %s", f[i].path, strerror(-rc));
		}
	}
	db->done_lsn = db->lsn;
	atomic_store(&db->applied_lsn, db->lsn);
out:
	for (size_t i = 0; i < n; i++) {
		if (f[i].fd >= 0)
			close(f[i].fd);
		free(f[i].data);
		free(f[i].path);
	}
	free(f);
	free(recs);
	free(g);
	return rc;
}

/* ---- The writer ----------------------------------------------------- */

static int write_all(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		int k = n > IOV_MAX ? IOV_MAX : n;
		ssize_t w = pwritev(fd, iov, k, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (uint64_t)w;
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* Zeros from end (the file's size after a group) to the next multiple of
 * MX_WAL_PREALLOC, when the group was small (l->mu held). */
static int prealloc(mx_lane *l, uint64_t end, uint64_t group)
{
	static const uint8_t zeros[64 << 10];
	if (end <= l->alloc)
		return 0;
	l->alloc = end;
	if (group > MX_WAL_PREALLOC / 16)
		return 0;
	uint64_t to = (end / MX_WAL_PREALLOC + 1) * MX_WAL_PREALLOC;
	struct iovec iov[MX_WAL_PREALLOC / sizeof zeros + 1];
	int n = 0;
	for (uint64_t at = end; at < to; n++) {
		size_t k = to - at < sizeof zeros ? (size_t)(to - at) : sizeof zeros;
		iov[n] = (struct iovec){ (void *)zeros, k };
		at += k;
	}
	int rc = write_all(l->fd, iov, n, end);
	if (!rc)
		l->alloc = to;
	return rc;
}

/* Writes and syncs one group with lsns lsn0 + 1.. (l->mu held). */
static int write_group(mx_db *db, mx_lane *l, struct mx_req *first, size_t nreq, uint64_t lsn0)
{
	uint8_t (*hdr)[REC_HDR] = xmalloc(nreq * REC_HDR);
	struct iovec *iov = xmalloc(2 * nreq * sizeof *iov);
	uint64_t total = 0;
	size_t i = 0;
	int rc = 0;
	for (struct mx_req *r = first; i < nreq; r = mx_req_next(r), i++) {
		const uint8_t *p;
		size_t len, ns;
		mx_req_payload(r, &p, &len, &ns);
		put64(hdr[i] + 8, lsn0 + 1 + i);
		put32(hdr[i], (uint32_t)len);
		/* The CRC covers lsn and payload as one run (chained). */
		put32(hdr[i] + 4, mx_crc32c(mx_crc32c(0, hdr[i] + 8, 8), p, len));
		iov[2 * i] = (struct iovec){ hdr[i], REC_HDR };
		iov[2 * i + 1] = (struct iovec){ (void *)p, len };
		total += REC_HDR + len;
	}
	int64_t t0 = sn_mono_ns();
	rc = atomic_load(&db->broken) ? -EIO : write_all(l->fd, iov, (int)(2 * nreq), l->size);
	if (!rc)
		rc = prealloc(l, l->size + total, total);
	if (!rc && fdatasync(l->fd))
		rc = -errno;
	if (!rc) {
		/* sync_us moves an eighth of the way to this group's time. */
		int64_t us = (sn_mono_ns() - t0) / 1000, avg = atomic_load(&db->sync_us);
		atomic_store(&db->sync_us, avg + (us - avg) / 8);
	}
	if (rc && !atomic_load(&db->broken)) {
		/* Nothing of the group is acknowledged; cut it off so that
		 * later records are not hidden behind a damaged one. */
		log_error("metrics: writing the log failed: %s", strerror(-rc));
		if (ftruncate(l->fd, (off_t)l->size) || fdatasync(l->fd))
			atomic_store(&db->broken, 1);
		l->alloc = l->size; /* the zeros ahead went with the cut */
	}
	if (!rc) {
		l->size += total;
		atomic_fetch_add(&db->wal_bytes, total);
	}
	free(iov);
	free(hdr);
	return rc;
}

/* Applies a written group (rc 0) or passes its lsns over, in lsn order. */
static void apply_group(mx_db *db, struct mx_req *first, size_t nreq, uint64_t lsn0, int rc)
{
	pthread_mutex_lock(&db->applymu);
	while (db->done_lsn != lsn0)
		pthread_cond_wait(&db->applycv, &db->applymu);
	pthread_mutex_unlock(&db->applymu);
	if (!rc) {
		pthread_rwlock_wrlock(&db->hl);
		size_t i = 0;
		for (struct mx_req *r = first; i < nreq; r = mx_req_next(r), i++)
			mx_db_apply_req(db, r, lsn0 + 1 + i);
		pthread_rwlock_unlock(&db->hl);
		atomic_store(&db->applied_lsn, lsn0 + nreq);
	}
	pthread_mutex_lock(&db->applymu);
	db->done_lsn = lsn0 + nreq;
	pthread_cond_broadcast(&db->applycv);
	pthread_mutex_unlock(&db->applymu);
}

void mx_wal_finish(struct mx_req *first, size_t nreq, int rc)
{
	struct mx_req *r = first;
	for (size_t i = 0; i < nreq; i++) {
		struct mx_req *next = mx_req_next(r);
		mx_req_finish(r, rc);
		r = next;
	}
}

/* Writes a group given lsns lsn0 + 1.. (l->mu held, released here), then
 * applies it in lsn order and finishes its requests. */
static void group_out(mx_db *db, mx_lane *l, struct mx_req *first, size_t nreq, uint64_t lsn0)
{
	int rc = write_group(db, l, first, nreq, lsn0);
	pthread_mutex_unlock(&l->mu);
	apply_group(db, first, nreq, lsn0, rc);
	mx_wal_finish(first, nreq, rc);
}

void mx_wal_commit(mx_db *db, unsigned lane, struct mx_req *first, size_t nreq)
{
	mx_lane *l = &db->lanes[lane % MX_LANES];
	/* The lane's lock before the lsns, as the lane threads take them:
	 * mx_wal_rotate counts on every lsn given before it held all lanes
	 * being in an older file. */
	pthread_mutex_lock(&l->mu);
	pthread_mutex_lock(&db->qmu);
	if (db->stop || atomic_load(&db->broken)) {
		pthread_mutex_unlock(&db->qmu);
		pthread_mutex_unlock(&l->mu);
		mx_wal_finish(first, nreq, -EIO);
		return;
	}
	uint64_t lsn0 = db->lsn;
	db->lsn += nreq;
	pthread_mutex_unlock(&db->qmu);
	group_out(db, l, first, nreq, lsn0);
}

static void *lane_main(void *arg)
{
	mx_lane *l = arg;
	mx_db *db = l->db;
	pthread_mutex_lock(&db->qmu);
	for (;;) {
		/* Only this lane passes its own turn on: once it has the turn
		 * and a queued batch, both stay until it takes them. */
		while (!(db->qhead && db->next_lane == l->idx) && !(db->stop && !db->qhead))
			pthread_cond_wait(&l->cv, &db->qmu);
		if (!db->qhead)
			break;
		pthread_mutex_unlock(&db->qmu);
		pthread_mutex_lock(&l->mu);
		pthread_mutex_lock(&db->qmu);
		/* The group: every queued batch up to MX_GROUP_MAX samples (at
		 * least one batch). */
		struct mx_req *first = db->qhead, *last = first;
		size_t nreq = 1, ns = 0, len;
		const uint8_t *p;
		mx_req_payload(first, &p, &len, &ns);
		for (struct mx_req *r = mx_req_next(first); r; r = mx_req_next(r)) {
			size_t k;
			mx_req_payload(r, &p, &len, &k);
			if (ns + k > MX_GROUP_MAX)
				break;
			ns += k;
			last = r;
			nreq++;
		}
		db->qhead = mx_req_next(last);
		if (!db->qhead)
			db->qtail = NULL;
		uint64_t lsn0 = db->lsn;
		db->lsn += nreq;
		if (atomic_load(&db->sync_us) >= db->lane_min_us) {
			/* The next lane takes what queues while this one syncs. */
			db->next_lane = (l->idx + 1) % MX_LANES;
			if (db->qhead)
				pthread_cond_signal(&db->lanes[db->next_lane].cv);
		}
		pthread_mutex_unlock(&db->qmu);

		group_out(db, l, first, nreq, lsn0);
		pthread_mutex_lock(&db->qmu);
	}
	pthread_mutex_unlock(&db->qmu);
	return NULL;
}

int mx_wal_writer_start(mx_db *db)
{
	for (unsigned i = 0; i < MX_LANES; i++) {
		mx_lane *l = &db->lanes[i];
		if (pthread_create(&l->thread, NULL, lane_main, l)) {
			mx_wal_writer_stop(db);
			return -EAGAIN;
		}
		l->on = 1;
	}
	return 0;
}

void mx_wal_writer_stop(mx_db *db)
{
	pthread_mutex_lock(&db->qmu);
	db->stop = 1;
	for (unsigned i = 0; i < MX_LANES; i++)
		pthread_cond_signal(&db->lanes[i].cv);
	pthread_mutex_unlock(&db->qmu);
	for (unsigned i = 0; i < MX_LANES; i++)
		if (db->lanes[i].on) {
			pthread_join(db->lanes[i].thread, NULL);
			db->lanes[i].on = 0;
		}
}
