/* agent/agent_metrics.c: the /proc and nvidia-smi parsers against
 * hand-written lines (proc(5)'s layout, nvidia-smi's CSV), and the tree
 * reader against a real tree of processes this test forks: it must find
 * each descendant, and the CPU time one of them burns. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "agent/agent_metrics.h"
#include "base/util.h"

static void test_parse_stat(void **state)
{
	(void)state;
	agm_proc p;
	/* A name with spaces and a ')' inside: fields count from the last ')'.
	 * utime 100 stime 20 cutime 3 cstime 4, 7 threads, rss 250 pages. */
	const char *line = "4242 (we ird) (x) S 17 4242 4242 0 -1 4194560 500 0 0 0 100 20 3 4 20 0 7"
			   " 0 12345 1048576 250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0"
			   " 0 0 0 0\n";
	assert_int_equal(agm_parse_stat(line, &p), 0);
	assert_int_equal(p.pid, 4242);
	assert_int_equal(p.ppid, 17);
	assert_int_equal(p.state, 'S');
	assert_int_equal(p.ticks, 127);
	assert_int_equal(p.threads, 7);
	assert_int_equal(p.rss_pages, 250);
	assert_int_equal(agm_parse_stat("12 (short) R 1 2 3", &p), -EINVAL);
	assert_int_equal(agm_parse_stat("no parenthesis", &p), -EINVAL);
	assert_int_equal(agm_parse_stat("", &p), -EINVAL);
}

static void test_parse_host(void **state)
{
	(void)state;
	uint64_t busy, total, mt, ma;
	/* user nice system idle iowait irq softirq steal guest guest_nice */
	const char *stat = "cpu  100 5 50 800 40 3 2 0 9 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n";
	assert_int_equal(agm_parse_cpu_line(stat, &busy, &total), 0);
	assert_int_equal(total, 100 + 5 + 50 + 800 + 40 + 3 + 2 + 0);
	assert_int_equal(busy, total - 800 - 40);
	assert_int_equal(agm_parse_cpu_line("cpu0 1 2 3 4\n", &busy, &total), -EINVAL);
	agm_host a = { .cpu_busy = 100, .cpu_total = 1000 }, b = { .cpu_busy = 350, .cpu_total = 2000 };
	assert_true(agm_host_cpu_percent(&a, &b) == 25.0);
	assert_true(agm_host_cpu_percent(&b, &a) == 0.0);
	const char *mem = "MemTotal:       16315152 kB\nMemFree:  1 kB\nMemAvailable:   8000000 kB\n";
	assert_int_equal(agm_parse_meminfo(mem, &mt, &ma), 0);
	assert_int_equal(mt, 16315152ull * 1024);
	assert_int_equal(ma, 8000000ull * 1024);
	assert_int_equal(agm_parse_meminfo("MemTotal: 5 kB\n", &mt, &ma), -EINVAL);
	/* This machine's own figures are sane. */
	agm_host h;
	assert_int_equal(agm_host_read(&h), 0);
	assert_true(h.mem_total > 0 && h.mem_avail <= h.mem_total);
	assert_true(h.cpu_total > 0 && h.cpu_busy <= h.cpu_total);
}

static void test_parse_gpus(void **state)
{
	(void)state;
	agm_gpu g[4];
	size_t n = 0;
	const char *gpus = "0, GPU-aaaa, 35, 1024, 81559\n"
			   "1, GPU-bbbb, [N/A], [N/A], 40960\n"
			   "garbage line\n"
			   "2, GPU-cccc, 100, 0, 1\n";
	agm_parse_gpus(gpus, g, 4, &n);
	assert_int_equal(n, 3);
	assert_int_equal(g[0].index, 0);
	assert_string_equal(g[0].uuid, "GPU-aaaa");
	assert_true(g[0].util == 35.0);
	assert_true(g[0].mem_used == 1024.0 * 1048576);
	assert_true(g[0].mem_total == 81559.0 * 1048576);
	assert_true(g[1].util < 0 && g[1].mem_used < 0);
	assert_true(g[1].mem_total == 40960.0 * 1048576);
	assert_int_equal(g[2].index, 2);
	/* At most max GPUs. */
	agm_parse_gpus(gpus, g, 1, &n);
	assert_int_equal(n, 1);
	agm_parse_gpus(gpus, g, 4, &n);
	/* Apps: only pids of the tree (sorted), summed per GPU by uuid. */
	const pid_t mine[] = { 100, 200, 300 };
	const char *apps = "100, GPU-aaaa, 500\n"
			   "200, GPU-aaaa, 250\n"
			   "999, GPU-aaaa, 4000\n"
			   "300, GPU-cccc, [N/A]\n"
			   "x, y\n";
	agm_parse_apps(apps, mine, 3, g, n);
	assert_int_equal(g[0].apps, 2);
	assert_true(g[0].app_mem == 750.0 * 1048576);
	assert_int_equal(g[1].apps, 0);
	assert_int_equal(g[2].apps, 1);
	assert_true(g[2].app_mem == 0.0);
}

/* Burns CPU for ms milliseconds of its own time. */
static void burn(long ms)
{
	struct timespec t;
	volatile double x = 0;
	do {
		for (int i = 0; i < 100000; i++)
			x += i * 0.5;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	} while (t.tv_sec * 1000 + t.tv_nsec / 1000000 < ms);
}

/* A child that forks a grandchild; the grandchild burns 300 ms of CPU
 * then waits; both are found, and the burnt time with them. */
static void test_tree(void **state)
{
	(void)state;
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pid_t g = fork();
		if (g == 0) {
			burn(300);
			if (write(ready[1], "x", 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		waitpid(g, NULL, 0);
		_exit(0);
	}
	char b;
	assert_int_equal(read(ready[0], &b, 1), 1);
	agm_tree t;
	assert_int_equal(agm_tree_read(getpid(), &t), 0);
	assert_int_equal(t.procs, 2);
	assert_int_equal(t.npids, 2);
	assert_int_equal(t.pids[0] < t.pids[1], 1);
	assert_true(t.pids[0] == child || t.pids[1] == child);
	assert_true(t.threads >= 2);
	assert_true(t.rss_bytes > 0);
	/* 300 ms burnt, read in 10 ms ticks. */
	assert_true(t.cpu_us >= 280000);
	assert_true(t.cpu_us < 5000000);
	pid_t grand = t.pids[0] == child ? t.pids[1] : t.pids[0];
	agm_tree_release(&t);
	/* The grandchild's tree is empty; a pid with no children too. */
	assert_int_equal(agm_tree_read(grand, &t), 0);
	assert_int_equal(t.procs, 0);
	assert_int_equal(t.cpu_us, 0);
	agm_tree_release(&t);
	kill(grand, SIGKILL);
	waitpid(child, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

/* nvidia-smi on PATH: found only in absolute PATH entries. */
static void test_smi_path(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_collect.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/nvidia-smi", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho '0, GPU-t, 7, 1, 2'\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	char *want = NULL;
	setenv("PATH", "relative:/nonexistent", 1);
	assert_null(agm_smi_path());
	char pv[256];
	snprintf(pv, sizeof pv, "/nonexistent:%s", dir);
	setenv("PATH", pv, 1);
	want = agm_smi_path();
	assert_non_null(want);
	assert_string_equal(want, path);
	/* And run: the fake's line is read back. */
	agm_gpu g[2];
	size_t n = 0;
	assert_int_equal(agm_gpu_read(want, NULL, 0, g, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_true(g[0].util == 7.0);
	free(want);
	if (old)
		setenv("PATH", old, 1);
	free(old);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_parse_host),
		cmocka_unit_test(test_parse_gpus),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_smi_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
