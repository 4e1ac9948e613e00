#!/usr/bin/env bash
# The login throttle: a user from one address is refused after
# --login-max-failures, an address after 4x as many (any users); 429 with
# Retry-After; the lockout expires. A user's failures from other addresses
# only delay, never lock. Parallel attempts are counted before they are
# verified, so they are limited like sequential ones.
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

# ---- per user (from one address) ----
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
is "$(jbody '[.items[] | select(.status == 429) | .count] | add')" 2 "429s are audited as denied"
is "$(jbody '[.items[] | select(.status == 429)] | length')" 1 "... in one row (same user, address, minute)"

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
try_login admin adminpass123 --interface 127.0.0.2
is "$STATUS" 200 "admin, locked out at 127.0.0.1, logs in from another address (delayed, not locked)"
api GET "/api/v1/audit?actor=carol&limit=1"
is "$(jbody '.items[0].address')" 127.0.0.2 "... and the audit records that address"

# ---- the lockout expires ----
# (admin's login from 127.0.0.2 cleared admin's count; ghost1-3 have theirs)
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

# ---- parallel attempts are limited like sequential ones ----
# Defaults now: 5 failures per user and address, 20 per address, 60 s.
stop_server
start_server
TOKEN=$(login admin adminpass123)
mkuser dave davepass12 member
mkuser erin erinpass12 member
# burst FROM USER...: one parallel login attempt per USER (wrong password)
# from address FROM; prints the status codes, one a line.
burst() {
	local from=$1
	shift
	printf '%s\n' "$@" | xargs -P 60 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 \
		--interface "$from" -X POST -H 'Content-Type: application/json' \
		--data '{"username":"{}","password":"wrong-password"}' "$URL/api/v1/auth/login"
}
codes=$(burst 127.0.0.1 $(yes dave | head -n 60))
n401=$(grep -c '^401$' <<<"$codes")
ok "$([ "$n401" -ge 1 ] && [ "$n401" -le 5 ]; echo $?)" "60 parallel wrong logins for dave: at most 5 verified (got $n401)"
# (503: the hash gate's queue was full, which a machine with few cores may see)
is "$(grep -Ecv '^(401|429|503)$' <<<"$codes")" 0 "... all others refused (429) before verification"
try_login dave davepass12
is_error 429 too_many_requests "dave's right password from that address is refused (that pair is locked)"
try_login erin erinpass12
is "$STATUS" 200 "another user from the same address still logs in (the address is under its limit)"
try_login dave davepass12 --interface 127.0.0.2
is "$STATUS" 200 "dave's right password from another address logs in: delayed, not locked"
try_login admin adminpass123
is "$STATUS" 200 "the admin from the burst's address is not locked out either"

codes=$(burst 127.0.0.3 $(seq -f 'nobody%g' 1 60))
n401=$(grep -c '^401$' <<<"$codes")
ok "$([ "$n401" -ge 1 ] && [ "$n401" -le 20 ]; echo $?)" "60 parallel wrong logins for 60 names from one address: at most 20 verified (got $n401)"
is "$(grep -Ecv '^(401|429|503)$' <<<"$codes")" 0 "... the rest are refused"
# Fill the address up to its limit one by one: 20 failures in all, never more.
for i in $(seq 1 25); do
	try_login "late$i" wrong-password --interface 127.0.0.3
	[ "$STATUS" = 401 ] || break
	n401=$((n401 + 1))
done
is "$n401" 20 "the address verifies exactly 20 wrong logins, parallel and sequential together"
try_login erin erinpass12 --interface 127.0.0.3
is_error 429 too_many_requests "that address is now locked for every user"
try_login erin erinpass12
is "$STATUS" 200 "... and only that address"

done_testing
