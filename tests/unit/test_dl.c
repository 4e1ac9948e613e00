/* base/dl: one loader for every library loaded on first use. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "base/dl.h"

static struct { double (*cos)(double); } m;
static const char *const m_names[] = { "cos" };

static void test_loads_once(void **state)
{
	(void)state;
	static sn_dl_lib lib = SN_DL_LIB("libm.so.6", "libc6", m_names, &m);
	char err[256] = "";
	assert_int_equal(sn_dl_use(&lib, err, sizeof err), 0);
	assert_true(m.cos(0.0) == 1.0);
	assert_int_equal(sn_dl_use(&lib, NULL, 0), 0);
	sn_dl_need(&lib); /* does not abort once loaded */
}

static struct { void (*f)(void); } none;
static const char *const bad_names[] = { "sn_no_such_symbol" };

static void test_errors_name_library_and_package(void **state)
{
	(void)state;
	static sn_dl_lib missing = SN_DL_LIB("libsn-missing.so.9", "libsn-missing9", bad_names, &none);
	char err[256] = "";
	assert_int_equal(sn_dl_use(&missing, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "libsn-missing.so.9"));
	assert_non_null(strstr(err, "Debian package libsn-missing9"));
	err[0] = '\0';
	assert_int_equal(sn_dl_use(&missing, err, sizeof err), -ENOENT); /* remembered */
	assert_non_null(strstr(err, "libsn-missing.so.9"));
	static sn_dl_lib nosym = SN_DL_LIB("libm.so.6", "libc6", bad_names, &none);
	assert_int_equal(sn_dl_use(&nosym, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "sn_no_such_symbol"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_once),
		cmocka_unit_test(test_errors_name_library_and_package),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
