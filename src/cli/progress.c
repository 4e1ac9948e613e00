/* A progress bar for uploads and downloads on stderr (only on a terminal),
 * and the interrupt flag that lets a transfer stop cleanly on Ctrl-C. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "base/mem.h"
#include "base/util.h"
#include "cli/cli.h"

struct cli_progress {
	char *label;
	int64_t total;
	int64_t start;     /* bytes done before this run (a resume): not in the rate */
	int64_t t0_ns;
	int64_t last_ns;   /* of the last redraw */
};

static volatile sig_atomic_t interrupted;
/* A bar's line is on screen without its newline: a message must first end it. */
static int on_screen;

static void on_signal(int sig)
{
	interrupted = sig;
}

void cli_trap_interrupt(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void)
{
	return interrupted != 0;
}

cli_progress *cli_progress_new(const char *label, int64_t total, int64_t start)
{
	if (!isatty(2))
		return NULL;
	cli_progress *p = xcalloc(1, sizeof *p);
	p->label = xstrdup(label);
	p->total = total;
	p->start = start;
	p->t0_ns = sn_mono_ns();
	return p;
}

/* 1536 -> "1.5 KiB"; out holds 16 bytes. */
static void human(double v, char out[16])
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(out, 16, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void draw(cli_progress *p, int64_t done, int64_t now)
{
	char d[16], t[16], r[16], eta[32] = "--:--";
	double secs = (double)(now - p->t0_ns) / 1e9;
	double rate = secs > 0 ? (double)(done - p->start) / secs : 0;
	int pct = p->total > 0 ? (int)(done * 100 / p->total) : 0;
	int fill = pct * 24 / 100;
	human((double)done, d);
	human((double)p->total, t);
	human(rate, r);
	if (rate > 0 && p->total >= done) {
		long s = (long)((double)(p->total - done) / rate);
		snprintf(eta, sizeof eta, "%02ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	}
	/* \r and clear-to-end: one line redrawn in place. */
	fprintf(stderr, "\r%s [%.*s%*s] %3d%% %s/%s %s/s ETA %s\033[K", p->label, fill,
		"########################", 24 - fill, "", pct, d, t, r, eta);
	fflush(stderr);
	on_screen = 1;
}

void cli_progress_update(cli_progress *p, int64_t done)
{
	if (!p)
		return;
	int64_t now = sn_mono_ns();
	/* 10 redraws a second at most: curl calls back on every chunk. */
	if (now - p->last_ns < 100000000 && done < p->total)
		return;
	p->last_ns = now;
	draw(p, done, now);
}

void cli_progress_break(void)
{
	if (on_screen)
		fprintf(stderr, "\n");
	on_screen = 0;
}

void cli_progress_free(cli_progress **pp)
{
	cli_progress *p = *pp;
	if (!p)
		return;
	cli_progress_break();
	free(p->label);
	free(p);
	*pp = NULL;
}
