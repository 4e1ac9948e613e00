#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <openssl/evp.h>
#include <pthread.h>
#include "base/dl.h"
#include "base/mem.h"
#include "base/util.h"

int sn_base_init(void)
{
	return 0;
}

int sn_crypto_init(void)
{
	/* sodium_init takes its own lock and returns 1 once initialised. */
	return sodium_init() < 0 ? -EIO : 0;
}

int64_t sn_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sn_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sn_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

void sn_time_format(int64_t ms, char *out, size_t outlen)
{
	time_t sec = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	if (frac < 0) {
		frac += 1000;
		sec -= 1;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int parse_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int sn_time_parse(const char *s, int64_t *ms)
{
	const char *p = s;
	int Y, M, D, h, m, sec;
	if (!s || !*s)
		return -EINVAL;
	/* Bare digits are epoch milliseconds; 15 digits keep strtoll far from overflow. */
	if (strspn(s, "0123456789") == strlen(s) && strlen(s) <= 15) {
		*ms = strtoll(s, NULL, 10);
		return 0;
	}
	if (parse_digits(&p, 4, &Y) || *p++ != '-' || parse_digits(&p, 2, &M) || *p++ != '-' ||
	    parse_digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
		return -EINVAL;
	p++;
	if (parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &m) || *p++ != ':' ||
	    parse_digits(&p, 2, &sec))
		return -EINVAL;
	/* sec 60 is a leap second; timegm folds it and Feb 31 into the next unit. */
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -EINVAL;
	int frac = 0, scale = 0;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		/* Digits past milliseconds are accepted and dropped (truncated). */
		while (*p >= '0' && *p <= '9') {
			if (scale < 3) {
				frac = frac * 10 + (*p - '0');
				scale++;
			}
			p++;
		}
		while (scale++ < 3)
			frac *= 10;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om))
			return -EINVAL;
		off = sign * (oh * 60 + om);
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
			 .tm_hour = h, .tm_min = m, .tm_sec = sec };
	time_t t = timegm(&tm);
	*ms = ((int64_t)t - (int64_t)off * 60) * 1000 + frac;
	return 0;
}

int sn_time_arg(const char *s, int64_t now_ms, int64_t *ms)
{
	int64_t d;
	if (strcmp(s, "now") == 0) {
		*ms = now_ms;
		return 0;
	}
	if (s[0] == '-') {
		if (sn_parse_duration_ms(s + 1, &d) || d < 0)
			return -EINVAL;
		*ms = now_ms - d;
		return 0;
	}
	return sn_time_parse(s, ms);
}

int sn_env_int(const char *name, long long lo, long long hi, long long *out)
{
	const char *s = getenv(name);
	char *end = NULL;
	long long v = s ? strtoll(s, &end, 10) : 0;
	if (!s || !*s || *end || v < lo || v > hi)
		return 0;
	*out = v;
	return 1;
}

void sn_random(void *p, size_t n)
{
	if (sn_crypto_init())
		abort(); /* no randomness: no id, token or salt may be made */
	randombytes_buf(p, n);
}

void sn_hex(const void *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* 80 random bits: ids are unguessable and collide with negligible
 * probability, so no lookup is needed before an insert. */
char *sn_id_new(const char *prefix)
{
	unsigned char r[10];
	char hex[21];
	sn_random(r, sizeof r);
	sn_hex(r, sizeof r, hex);
	return xasprintf("%s%s", prefix, hex);
}

/* libcrypto (for its SHA-256, which uses the CPU's SHA extensions) is
 * loaded on first use: linked, it costs every process ~2 ms at start-up. */
static struct {
	EVP_MD_CTX *(*ctx_new)(void);
	void (*ctx_free)(EVP_MD_CTX *);
	int (*init)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
	int (*update)(EVP_MD_CTX *, const void *, size_t);
	int (*final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
	const EVP_MD *(*sha256)(void);
	EVP_MD *(*fetch)(OSSL_LIB_CTX *, const char *, const char *);
} evp;
static const char *const evp_names[] = { "EVP_MD_CTX_new", "EVP_MD_CTX_free",
					 "EVP_DigestInit_ex", "EVP_DigestUpdate",
					 "EVP_DigestFinal_ex", "EVP_sha256", "EVP_MD_fetch" };
static sn_dl_lib evp_lib = SN_DL_LIB("libcrypto.so.3", "libssl3", evp_names, &evp);

/* EVP_sha256() makes every DigestInit look the algorithm up in OpenSSL 3's
 * provider store (locks, a property query): a few microseconds that an
 * authenticated request paid to hash its token. Fetched once, it is not
 * looked up again; the fetched object lives as long as the process. */
static const EVP_MD *sha_md;
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
/* sn_sha256_hex's context, one per thread, reused (freed at thread exit). */
static pthread_key_t sha_key;

static void sha_ctx_free(void *ctx)
{
	evp.ctx_free(ctx);
}

static void sha_setup(void)
{
	sn_dl_need(&evp_lib);
	EVP_MD *md = evp.fetch(NULL, "SHA256", NULL);
	sha_md = md ? md : evp.sha256();
	if (pthread_key_create(&sha_key, sha_ctx_free)) {
		fprintf(stderr, "sentinel: no thread key for SHA-256\n");
		abort();
	}
}

struct sn_sha256 {
	EVP_MD_CTX *ctx;
};

sn_sha256 *sn_sha256_new(void)
{
	pthread_once(&sha_once, sha_setup);
	sn_sha256 *h = xmalloc(sizeof *h);
	h->ctx = evp.ctx_new();
	if (!h->ctx || evp.init(h->ctx, sha_md, NULL) != 1) {
		fprintf(stderr, "sentinel: libcrypto cannot start a SHA-256\n");
		abort();
	}
	return h;
}

void sn_sha256_update(sn_sha256 *h, const void *p, size_t n)
{
	evp.update(h->ctx, p, n);
}

void sn_sha256_final(sn_sha256 **ph, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	evp.final((*ph)->ctx, md, &len);
	sn_hex(md, sizeof md, out);
	evp.ctx_free((*ph)->ctx);
	xfree(ph);
}

void sn_sha256_hex(const void *p, size_t n, char out[65])
{
	pthread_once(&sha_once, sha_setup);
	EVP_MD_CTX *ctx = pthread_getspecific(sha_key);
	if (!ctx) {
		ctx = evp.ctx_new();
		if (!ctx || pthread_setspecific(sha_key, ctx)) {
			fprintf(stderr, "sentinel: libcrypto cannot start a SHA-256\n");
			abort();
		}
	}
	unsigned char md[32];
	unsigned int len = 0;
	if (evp.init(ctx, sha_md, NULL) != 1 || evp.update(ctx, p, n) != 1 ||
	    evp.final(ctx, md, &len) != 1) {
		fprintf(stderr, "sentinel: libcrypto failed a SHA-256\n");
		abort();
	}
	sn_hex(md, sizeof md, out);
}

int sn_sha256_file(const char *path, char out[65])
{
	char *buf = xmalloc(1 << 16);
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
	sn_sha256 *h = NULL;
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	h = sn_sha256_new();
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 16);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (!n)
			break;
		sn_sha256_update(h, buf, (size_t)n);
	}
	sn_sha256_final(&h, out);
out:
	/* Only the error path still holds h: finishing it frees the context. */
	if (h) {
		char discard[65];
		sn_sha256_final(&h, discard);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int sn_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	if (sn_strlcpy(tmp, path, sizeof tmp))
		return -ENAMETOOLONG;
	/* EEXIST on each level is fine: another process may create it first. */
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int sn_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

static int fsync_dir_of(const char *path)
{
	char *d = xstrdup(path);
	char *slash = strrchr(d, '/');
	if (slash == d)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else {
		free(d);
		d = xstrdup(".");
	}
	int rc = sn_fsync_dir(d);
	free(d);
	return rc;
}

int sn_write_file_atomic(const char *path, const void *data, size_t n, unsigned mode)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	else
		rc = fsync_dir_of(path);
out:
	free(tmp);
	return rc;
}

int sn_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int rc = 0;
	char *data = NULL;
	size_t n = 0, cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			data = xrealloc(data, cap);
		}
		ssize_t r = read(fd, data + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = -E2BIG;
			goto out;
		}
	}
	data[n] = '\0';
	*out = data;
	data = NULL;
	if (len)
		*len = n;
out:
	free(data);
	close(fd);
	return rc;
}

int sn_refuse(sn_refusal *f, int rc, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	if (!f->status) {
		f->status = status;
		f->code = code;
		va_start(ap, fmt);
		vsnprintf(f->msg, sizeof f->msg, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int sn_parse_number(const char *s, int64_t *out)
{
	char *end = NULL;
	if (!s || *s < '1' || *s > '9' || strlen(s) > 18)
		return -EINVAL;
	long long v = strtoll(s, &end, 10);
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

int sn_parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	uint64_t mul = 1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	case 't': case 'T': mul = 1ULL << 40; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' && mul > 1)
		end++;
	if ((*end == 'b' || *end == 'B') && (mul > 1 || end[1] == '\0'))
		end++;
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

int sn_parse_duration_ms(const char *s, int64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	double mul;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mul = 1000;
	else if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0)
		mul = 60000;
	else if (strcmp(end, "h") == 0)
		mul = 3600000;
	else if (strcmp(end, "d") == 0)
		mul = 86400000;
	else
		return -EINVAL;
	if (v * mul > 9e15)
		return -EINVAL;
	*out = (int64_t)(v * mul);
	return 0;
}

int sn_copy_hashed(int in, int out, char sha[65])
{
	char *buf = xmalloc(1 << 20);
	sn_sha256 *h = sn_sha256_new();
	off_t off = 0;
	ssize_t n;
	int rc = 0;
	while (!rc && ((n = pread(in, buf, 1 << 20, off)) > 0 || (n < 0 && errno == EINTR))) {
		if (n < 0)
			continue;
		sn_sha256_update(h, buf, (size_t)n);
		off += n;
		for (ssize_t w = 0; !rc && w < n;) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));
			if (k > 0)
				w += k;
			else if (k < 0 && errno != EINTR)
				rc = -errno;
		}
	}
	if (!rc && n < 0)
		rc = -errno;
	sn_sha256_final(&h, sha);
	free(buf);
	return rc;
}

int sn_url_ok(const char *u, size_t max)
{
	size_t n = strlen(u);
	if ((strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) || n >= max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f)
			return 0;
	return 1;
}
