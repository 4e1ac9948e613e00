/* The metrics store's write-ahead log: group commits and replay.
 *
 * A log file DIR/wal.<gen> is a sequence of records:
 *   u32 payload length, u32 CRC32C of (lsn, payload), u64 lsn, payload
 * (little endian). Payload: varint ndefs, ndefs × (varint sid, varint
 * length, agent \x1f metric \x1f tags), varint n, n × (varint sid, zigzag
 * varint ts - previous ts, 8 bytes value). A record is a whole batch, so
 * replay applies a batch entirely or not at all: the first record that is
 * short or fails its CRC ends the file (a torn tail) and is cut off.
 *
 * The writer thread takes every queued batch (up to MX_GROUP_MAX
 * samples), writes them with one writev, fdatasyncs, applies them to
 * memory (hl, never held across the sync) and wakes their appenders. A
 * failed write is truncated away so later records stay readable. */
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
#include "metrics/mx_db_int.h"

#define MX_GROUP_MAX 65536
#define REC_HDR 16
#define REC_MAX (256u << 20)

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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The generations of the log files in dir, sorted. */
static size_t wal_gens(const char *dir, uint64_t **out)
{
	DIR *d = opendir(dir);
	size_t n = 0, cap = 0;
	uint64_t *g = NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char *end;
		if (strncmp(e->d_name, "wal.", 4) != 0 || !e->d_name[4])
			continue;
		unsigned long long v = strtoull(e->d_name + 4, &end, 10);
		if (*end)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			g = xrealloc(g, cap * sizeof *g);
		}
		g[n++] = v;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(g, n, sizeof *g, cmp_u64);
	*out = g;
	return n;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int mx_wal_start(mx_db *db, uint64_t gen)
{
	char *path = xasprintf("%s/wal.%llu", db->dir, (unsigned long long)gen);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	free(path);
	if (fd < 0)
		return -errno;
	int rc = sync_dir(db->dir);
	if (rc) {
		close(fd);
		return rc;
	}
	if (db->walfd >= 0)
		close(db->walfd);
	db->walfd = fd;
	db->walgen = gen;
	atomic_store(&db->wal_bytes, 0);
	return 0;
}

void mx_wal_remove_below(mx_db *db, uint64_t gen)
{
	uint64_t *g = NULL;
	size_t n = wal_gens(db->dir, &g);
	for (size_t i = 0; i < n && g[i] < gen; i++) {
		char *path = xasprintf("%s/wal.%llu", db->dir, (unsigned long long)g[i]);
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

static int replay_file(mx_db *db, uint64_t gen)
{
	char *path = xasprintf("%s/wal.%llu", db->dir, (unsigned long long)gen);
	int rc = 0;
	uint8_t *data = NULL;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	struct stat sb;
	if (fstat(fd, &sb)) {
		rc = -errno;
		goto out;
	}
	size_t size = (size_t)sb.st_size, off = 0;
	data = xmalloc(size ? size : 1);
	for (size_t got = 0; got < size;) {
		ssize_t k = pread(fd, data + got, size - got, (off_t)got);
		if (k <= 0) {
			rc = k < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)k;
	}
	while (off + REC_HDR <= size) {
		uint32_t len = (uint32_t)get_le(data + off, 4), crc = (uint32_t)get_le(data + off + 4, 4);
		uint64_t lsn = get_le(data + off + 8, 8);
		if (len > REC_MAX || off + REC_HDR + len > size ||
		    mx_crc32c(0, data + off + 8, 8 + (size_t)len) != crc)
			break;
		if (replay_payload(db, data + off + REC_HDR, len, lsn))
			break;
		if (lsn > db->lsn)
			db->lsn = lsn;
		off += REC_HDR + len;
	}
	if (off < size) {
		log_warn("metrics: %s: cut off %zu bytes of a torn or damaged tail", path, size - off);
		if (ftruncate(fd, (off_t)off) || fdatasync(fd))
			rc = -errno;
	}
out:
	if (fd >= 0)
		close(fd);
	free(data);
	free(path);
	return rc;
}

int mx_wal_replay(mx_db *db, uint64_t *maxgen, char *err, size_t errlen)
{
	uint64_t *g = NULL;
	size_t n = wal_gens(db->dir, &g);
	int rc = 0;
	*maxgen = 0;
	pthread_rwlock_wrlock(&db->hl);
	for (size_t i = 0; i < n && !rc; i++) {
		rc = replay_file(db, g[i]);
		if (rc)
			snprintf(err, errlen, "metrics: cannot replay %s/wal.%llu: %s", db->dir,
				 (unsigned long long)g[i], strerror(-rc));
		*maxgen = g[i];
	}
	pthread_rwlock_unlock(&db->hl);
	atomic_store(&db->applied_lsn, db->lsn);
	free(g);
	return rc;
}

/* ---- The writer ----------------------------------------------------- */

static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		int k = n > IOV_MAX ? IOV_MAX : n;
		ssize_t w = writev(fd, iov, k);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
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

/* Writes, syncs and applies one group (walmu held). */
static int write_group(mx_db *db, struct mx_req *first, size_t nreq)
{
	uint8_t (*hdr)[REC_HDR] = xmalloc(nreq * REC_HDR);
	struct iovec *iov = xmalloc(2 * nreq * sizeof *iov);
	uint64_t lsn0 = db->lsn, size0 = atomic_load(&db->wal_bytes), total = 0;
	size_t i = 0;
	int rc = 0;
	for (struct mx_req *r = first; i < nreq; r = mx_req_next(r), i++) {
		const uint8_t *p;
		size_t len, ns;
		mx_req_payload(r, &p, &len, &ns);
		uint64_t lsn = lsn0 + 1 + i;
		put64(hdr[i] + 8, lsn);
		put32(hdr[i], (uint32_t)len);
		/* The CRC covers lsn and payload as one run (chained). */
		put32(hdr[i] + 4, mx_crc32c(mx_crc32c(0, hdr[i] + 8, 8), p, len));
		iov[2 * i] = (struct iovec){ hdr[i], REC_HDR };
		iov[2 * i + 1] = (struct iovec){ (void *)p, len };
		total += REC_HDR + len;
	}
	rc = write_all(db->walfd, iov, (int)(2 * nreq));
	if (!rc && fdatasync(db->walfd))
		rc = -errno;
	if (rc) {
		/* Nothing of the group is acknowledged; cut it off so that
		 * later records are not hidden behind a damaged one. */
		log_error("metrics: writing the log failed: %s", strerror(-rc));
		if (ftruncate(db->walfd, (off_t)size0) || fdatasync(db->walfd))
			db->broken = 1;
		goto out;
	}
	db->lsn = lsn0 + nreq;
	atomic_fetch_add(&db->wal_bytes, total);
	pthread_rwlock_wrlock(&db->hl);
	i = 0;
	for (struct mx_req *r = first; i < nreq; r = mx_req_next(r), i++)
		mx_db_apply_req(db, r, lsn0 + 1 + i);
	pthread_rwlock_unlock(&db->hl);
	atomic_store(&db->applied_lsn, db->lsn);
out:
	free(iov);
	free(hdr);
	return rc;
}

static void *writer_main(void *arg)
{
	mx_db *db = arg;
	pthread_mutex_lock(&db->qmu);
	for (;;) {
		while (!db->qhead && !db->stop)
			pthread_cond_wait(&db->qcv, &db->qmu);
		if (!db->qhead)
			break;
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
		pthread_mutex_unlock(&db->qmu);

		pthread_mutex_lock(&db->walmu);
		int rc = db->broken ? -EIO : write_group(db, first, nreq);
		pthread_mutex_unlock(&db->walmu);

		struct mx_req *r = first;
		for (size_t i = 0; i < nreq; i++) {
			struct mx_req *next = mx_req_next(r);
			mx_req_finish(r, rc);
			r = next;
		}
		pthread_mutex_lock(&db->qmu);
	}
	pthread_mutex_unlock(&db->qmu);
	return NULL;
}

int mx_wal_writer_start(mx_db *db)
{
	if (pthread_create(&db->writer, NULL, writer_main, db))
		return -EAGAIN;
	db->writer_on = 1;
	return 0;
}

void mx_wal_writer_stop(mx_db *db)
{
	if (!db->writer_on)
		return;
	pthread_mutex_lock(&db->qmu);
	db->stop = 1;
	pthread_cond_broadcast(&db->qcv);
	pthread_mutex_unlock(&db->qmu);
	pthread_join(db->writer, NULL);
	db->writer_on = 0;
}
