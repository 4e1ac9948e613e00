/* A streaming anomaly detector over one univariate series, built on
 * Sentinel's own autoencoder (ml_fit) and scored through the in-memory MLP.
 *
 * Feed (timestamp, value) pairs in order with det_feed; each returns the
 * sample's raw score, its anomaly likelihood and a flag.
 *
 *  - Probation: the first `probation` samples are only collected (scored 0,
 *    never flagged). At its end the detector fits an autoencoder on the
 *    sliding windows of the values seen so far, then every `refit` samples
 *    refits on the last `history` values. It never sees labels or the future.
 *  - Raw score: the autoencoder reconstructs the newest window (the last
 *    `window` values, plus the time of day and week when the series has
 *    sub-daily timestamps); the squared error of the newest value (or of
 *    the whole window: raw_mode), over its 0.99 quantile on the training
 *    windows, e, gives raw = 1 - exp(-e) in [0, 1).
 *  - Likelihood (as HTM's "anomaly likelihood"): a Gaussian fitted to the
 *    short-term means of the last `lik_long` raw scores; the likelihood is
 *    1 - the tail probability of the current short-term mean. The score is
 *    that tail on a log scale, 1 - log(tail)/log(1e-10) inverted to [0, 1],
 *    and 1 for a value beyond the range seen so far by more than `spatial`
 *    of that range.
 *  - Suppression: a score no higher than the highest of the `suppress`
 *    before it is reported as 0, so a run of high scores is one detection
 *    at any threshold. Flags: reported score >= threshold.
 *
 * Deterministic: the same options, seed and input give the same outputs.
 * Memory is fixed at det_new (history, training table, likelihood and
 * suppression rings); each refit replaces the model by one of the same
 * size. The defaults are the best found on NAB (bench/nab.sh). One thread
 * at a time. */
#ifndef SN_DET_H
#define SN_DET_H
#include <stddef.h>
#include <stdint.h>

#define DET_MAX_WINDOW 256
#define DET_MAX_HISTORY (1 << 20)

typedef struct det det;

typedef struct det_opts {
	int probation; /* samples collected before the first fit, >= window + 16 */
	int window;    /* values per feature vector, 2..DET_MAX_WINDOW */
	int hidden;    /* bottleneck width; 0: about window / 3 */
	int history;   /* values kept for refits, probation..DET_MAX_HISTORY */
	int refit;     /* samples between refits after the first fit; 0: never */
	int epochs;    /* at most, per fit (early stopping on a held-out fifth) */
	int lik_long;  /* short-term means the likelihood's Gaussian is fitted on */
	int lik_short; /* raw scores per short-term mean */
	int time_features; /* 1: time of day and week (when steps are < 1 day) */
	double spatial;    /* range tolerance of the spatial check; < 0: off */
	double threshold;  /* flag when score >= threshold, in (0, 1] */
	int suppress;      /* samples a score must top to be reported (0: off) */
	double digits;     /* the score is 1 at a tail of 10^-digits (HTM: 10) */
	int raw_mode;      /* raw error: 0 the window's mean, 1 the newest value's, 2 the larger */
	uint64_t seed;
} det_opts;

typedef struct det_out {
	int scored;        /* 0 during the probation: the rest is 0 */
	double raw;        /* in [0, 1) */
	double likelihood; /* in [0, 1] */
	double score;      /* in [0, 1] */
	int flag;
} det_out;

void det_opts_default(det_opts *o);
/* NAB's probationary period for a series of n samples: min(0.15 n, 750). */
int det_probation_for(uint64_t n);
/* 0, or -EINVAL with a message naming the option. */
int det_new(const det_opts *o, det **out, char *err, size_t errlen);
void det_free(det **d);
/* 0, or -EINVAL (value not finite). A failed fit (too little variation)
 * is not an error: the detector keeps scoring by the spatial check alone
 * and tries again at the next refit. */
int det_feed(det *d, int64_t ts_ms, double value, det_out *out);
/* Bytes the detector holds; the same after det_new as after any feed. */
size_t det_memory(const det *d);
/* Fits done so far. */
int det_fits(const det *d);
#endif
