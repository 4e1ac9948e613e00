/* Small domain-free helpers: time, randomness, hex, SHA-256, files. */
#ifndef SN_UTIL_H
#define SN_UTIL_H
#include <stddef.h>
#include <stdint.h>

/* Process-wide start-up (libsodium). Call once from main. */
int sn_base_init(void);
/* Initialises libsodium on first use (thread-safe, idempotent): its CPU
 * probing costs every process ~1 ms of CPU, which only the commands that
 * hash passwords, draw random bytes or sign need to pay. 0 or -EIO. */
int sn_crypto_init(void);

/* Wall-clock milliseconds since the Unix epoch. */
int64_t sn_now_ms(void);
/* Monotonic clock in nanoseconds (for durations only). */
int64_t sn_mono_ns(void);
/* Sleeps ms milliseconds (a signal may cut it short). */
void sn_sleep_ms(int64_t ms);
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-22T19:37:53.123Z; out >= 32. */
void sn_time_format(int64_t ms, char *out, size_t outlen);
/* Parses RFC 3339 (Z or +hh:mm offset, optional fraction) or integer epoch
 * milliseconds. Returns 0 or -EINVAL. */
int sn_time_parse(const char *s, int64_t *ms);

/* A time argument of a query: what sn_time_parse takes, "now" (now_ms)
 * or "-DUR" (sn_parse_duration_ms) before now_ms. 0 or -EINVAL. */
int sn_time_arg(const char *s, int64_t now_ms, int64_t *ms);

/* 1 when u is an http:// or https:// URL shorter than max bytes with no
 * blank or control byte: one a server may hand a node to use as it is. */
int sn_url_ok(const char *u, size_t max);

/* An integer from the environment (the tests' hooks): 1 and *out when
 * name is set to a whole number in [lo, hi]; 0 when it is unset or
 * anything else. */
int sn_env_int(const char *name, long long lo, long long hi, long long *out);

/* Cryptographically random bytes (libsodium). */
void sn_random(void *p, size_t n);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void sn_hex(const void *p, size_t n, char *out);
/* A new random opaque id: prefix + 20 hex chars; the caller frees it. */
char *sn_id_new(const char *prefix);
/* SHA-256 of p as 64 hex chars + NUL. */
void sn_sha256_hex(const void *p, size_t n, char out[65]);
/* Streaming SHA-256: new, update any number of times, final (which frees
 * the state and sets *h to NULL). */
typedef struct sn_sha256 sn_sha256;
sn_sha256 *sn_sha256_new(void);
void sn_sha256_update(sn_sha256 *h, const void *p, size_t n);
void sn_sha256_final(sn_sha256 **h, char out[65]);
/* SHA-256 of a file's content. 0 or -errno. */
int sn_sha256_file(const char *path, char out[65]);
/* Copies in (from offset 0, with pread: in's position is left alone) to
 * out's position, hashing what it copies: sha gets the SHA-256 of the copy
 * itself, whatever the source does meanwhile. 0 or -errno. */
int sn_copy_hashed(int in, int out, char sha[65]);

/* mkdir -p with the given mode. 0 or -errno. */
int sn_mkdir_p(const char *path, unsigned mode);
/* fsync of a directory, so that the entries made in it are durable. 0 or
 * -errno. */
int sn_fsync_dir(const char *dir);
/* Writes data to path atomically: temp file in the same directory, fsync,
 * rename, fsync of the directory. 0 or -errno. */
int sn_write_file_atomic(const char *path, const void *data, size_t n, unsigned mode);
/* Reads a whole file up to max bytes into a new NUL-terminated buffer that
 * the caller frees. -E2BIG when larger than max, -errno otherwise. */
int sn_read_file(const char *path, size_t max, char **out, size_t *len);

/* The first refusal of a request read in pieces, kept until its handler
 * replies: an HTTP status, an error code and a message. Later ones are
 * dropped, since the first names the cause. */
typedef struct sn_refusal {
	int status; /* 0: none yet */
	const char *code;
	char msg[600];
} sn_refusal;
/* Records a refusal in f unless one is there; returns rc. */
int sn_refuse(sn_refusal *f, int rc, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A positive whole number as a path or query names a version: 1 to 18
 * digits, no leading zero, nothing else. 0 or -EINVAL. */
int sn_parse_number(const char *s, int64_t *out);
/* Parses a size like 1048576, 64K, 1M, 2G. 0 or -EINVAL. */
int sn_parse_size(const char *s, uint64_t *out);
/* Parses a duration like 500ms, 10s, 5m, 2h, 7d, or bare seconds. */
int sn_parse_duration_ms(const char *s, int64_t *out);
#endif
