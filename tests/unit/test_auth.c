/* Password hashing and verification, tokens and their expiry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "auth/auth.h"
#include "base/util.h"

static void test_password(void **state)
{
	(void)state;
	char h1[AUTH_HASH_MAX], h2[AUTH_HASH_MAX];
	assert_int_equal(sn_base_init(), 0);
	assert_int_equal(auth_password_hash("correct horse", h1), 0);
	assert_int_equal(strncmp(h1, "$argon2id$", 10), 0);
	assert_int_equal(auth_password_verify(h1, "correct horse"), 0);
	assert_int_equal(auth_password_verify(h1, "correct horsE"), -13 /* EACCES */);
	assert_int_equal(auth_password_verify(h1, ""), -13);
	/* Salted: the same password hashes differently. */
	assert_int_equal(auth_password_hash("correct horse", h2), 0);
	assert_string_not_equal(h1, h2);
	assert_int_equal(auth_password_verify(h2, "correct horse"), 0);
	/* Anything but an Argon2id string is refused. */
	assert_int_equal(auth_password_verify("plaintext", "plaintext"), -22);
	assert_int_equal(auth_password_verify("", ""), -22);
}

static void test_token(void **state)
{
	(void)state;
	char h1[65], h2[65], check[65];
	char *t1 = auth_token_new(h1), *t2 = auth_token_new(h2);
	assert_int_equal(strncmp(t1, "snt_", 4), 0);
	assert_int_equal(strlen(t1), 4 + 64);
	assert_string_not_equal(t1, t2);
	assert_string_not_equal(h1, h2);
	/* Only the hash is stored: it must be the SHA-256 of the token text. */
	sn_sha256_hex(t1, strlen(t1), check);
	assert_string_equal(h1, check);
	assert_string_not_equal(h1, t1 + 4);
	free(t1);
	free(t2);
}

static void test_expiry(void **state)
{
	(void)state;
	assert_false(auth_token_expired(-1, 1000));           /* never expires */
	assert_false(auth_token_expired(2000, 1999));
	assert_true(auth_token_expired(2000, 2000));          /* expiry instant is expired */
	assert_true(auth_token_expired(2000, 5000));
	assert_false(auth_token_expired(INT64_MAX, sn_now_ms()));
}

static void test_roles(void **state)
{
	(void)state;
	enum auth_role r;
	assert_int_equal(auth_role_parse("admin", &r), 0);
	assert_int_equal(r, ROLE_ADMIN);
	assert_int_equal(auth_role_parse("superadmin", &r), 0);
	assert_int_equal(r, ROLE_SUPERADMIN);
	assert_int_not_equal(auth_role_parse("root", &r), 0);
	assert_int_not_equal(auth_role_parse("none", &r), 0);
	assert_true(ROLE_MEMBER < ROLE_ADMIN && ROLE_ADMIN < ROLE_SUPERADMIN);
	assert_string_equal(auth_role_name(ROLE_MEMBER), "member");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_roles),
	};
	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
