#!/usr/bin/env bash
# The login throttle: per user after --login-max-failures, per address after
# 4x as many; 429 with Retry-After; the lockout expires.
. "$(dirname "$0")/lib.sh"

start_server --login-max-failures 3 --login-lockout 2s
TOKEN=$(login admin adminpass123)
mkuser carol carolpass1 member
is "$STATUS" 201 "set-up: carol"

# try_login USER PASSWORD [curl args...]: sets STATUS/BODY/headers
try_login() {
	local u=$1 p=$2
	shift 2
	call POST /api/v1/auth/login -H 'Content-Type: application/json' \
		--data "{\"username\":\"$u\",\"password\":\"$p\"}" "$@"
}

# ---- per user ----
codes=
for _ in 1 2 3; do try_login admin wrong-password; codes="$codes$STATUS "; done
is "$codes" "401 401 401 " "3 failed logins are 401"
try_login admin wrong-password
is_error 429 too_many_requests "the 4th attempt is 429"
ra=$(header Retry-After)
like "$ra" '^[12]$' "... with Retry-After in whole seconds (lockout 2s)"
like "$(errmsg)" 'retry' "... and a message saying when to retry"
try_login admin adminpass123
is "$STATUS" 429 "even the right password is refused while locked out"
try_login carol carolpass1
is "$STATUS" 200 "another user from the same address still logs in (the address allows 4x)"
api GET "/api/v1/audit?action=auth.login&outcome=denied&limit=100"
is "$(jbody '[.items[] | select(.status == 429)] | length')" 2 "429s are audited as denied"

# ---- per address: 4 x 3 = 12 failures ----
# So far 3 failures from 127.0.0.1 (429s do not count). 8 more, spread over
# users so that no single user is locked: 11 in all.
for u in ghost1 ghost1 ghost1 ghost2 ghost2 ghost2 ghost3 ghost3; do try_login "$u" wrong-password; done
is "$STATUS" 401 "11 failures from one address: still 401"
try_login carol carolpass1
is "$STATUS" 200 "after 11 failures the address may still log in"
try_login ghost4 wrong-password
is "$STATUS" 401 "the 12th failure is still a plain 401"
try_login carol carolpass1
is_error 429 too_many_requests "after 12 failures (4 x 3) the address is locked for every user"
like "$(header Retry-After)" '^[12]$' "... with Retry-After"
try_login carol carolpass1 --interface 127.0.0.2
is "$STATUS" 200 "the same user from another address logs in"
api GET "/api/v1/audit?actor=carol&limit=1"
is "$(jbody '.items[0].address')" 127.0.0.2 "... and the audit records that address"

# ---- the lockout expires ----
sleep 2.2
try_login admin adminpass123
is "$STATUS" 200 "after the lockout, admin logs in again"
try_login carol carolpass1
is "$STATUS" 200 "... and the address is free again"
# a success clears the user's count (a fresh address, so only the user counts)
for _ in 1 2; do try_login admin wrong-password --interface 127.0.0.3; done
is "$STATUS" 401 "two more failures for admin (from 127.0.0.3)"
try_login admin adminpass123 --interface 127.0.0.3
is "$STATUS" 200 "... do not lock: the earlier success reset admin's count"
for _ in 1 2; do try_login admin wrong-password --interface 127.0.0.3; done
try_login admin adminpass123 --interface 127.0.0.3
is "$STATUS" 200 "... and this success resets it again (2 + 2 failures never lock)"

# an address over its limit re-locks at its next failure, for twice as long
try_login ghost5 wrong-password
is "$STATUS" 401 "one more failure from 127.0.0.1 (the 13th)"
try_login carol carolpass1
is_error 429 too_many_requests "... locks the address again at once"
like "$(header Retry-After)" '^[34]$' "... for twice the lockout (Retry-After 4s)"

done_testing
