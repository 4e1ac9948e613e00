#!/usr/bin/env bash
# The CLI client against a real server: login stores a 0600 token, every
# command works through it, server errors become one line and a non-zero exit.
. "$(dirname "$0")/lib.sh"
start_server
export XDG_CONFIG_HOME=$TMP/xdg HOME=$TMP/home
S=$SENTINEL_BIN
CRED=$XDG_CONFIG_HOME/sentinel/credentials

out=$(SENTINEL_PASSWORD=wrongpass1 "$S" login --server "$URL" --username admin 2>&1); rc=$?
isnt "$rc" 0 "login with a wrong password fails"
like "$out" 'invalid_credentials: wrong username or password \(HTTP 401\)' "... with the server's message on one line"
is "$(printf '%s\n' "$out" | wc -l)" 1 "... one line only"
ok "$([ ! -e "$CRED" ]; echo $?)" "... and stores nothing"

out=$(SENTINEL_PASSWORD=adminpass123 "$S" login --server "$URL" --username admin 2>&1); rc=$?
is "$rc" 0 "login succeeds"
like "$out" "Logged in to $URL as admin" "... and says so"
is "$(stat -c %a "$CRED")" 600 "the credentials file is mode 0600"
is "$(stat -c %a "$(dirname "$CRED")")" 700 "... in a 0700 directory"
like "$(jq -r .token "$CRED")" '^snt_' "... holding the token"

is "$("$S" whoami)" "admin (superadmin) on $URL" "whoami"
is "$("$S" whoami --json | jq -r .username)" admin "whoami --json"

out=$(SENTINEL_NEW_PASSWORD=carolpass1 "$S" user create carol 2>&1)
is "$out" "Created user carol (member)" "user create"
# setsid: no controlling terminal, so no prompt can wait for input.
out=$(setsid -w "$S" user create carol 2>&1 </dev/null); rc=$?
is "$rc" 2 "user create without a password source is a usage error"
out=$(SENTINEL_NEW_PASSWORD=carolpass1 "$S" user create carol 2>&1); rc=$?
is "$rc" 1 "creating an existing user fails"
like "$out" "^sentinel user create: conflict: user 'carol' already exists \(HTTP 409\)$" "... naming the conflict"
out=$(echo shortpw | "$S" user create dave --password-stdin 2>&1); rc=$?
like "$out" "weak_password" "a short password from stdin is refused by the server"
out=$({ head -c 2000 /dev/zero | tr '\0' a; echo; echo tailpart1; } | "$S" user create erin --password-stdin 2>&1); rc=$?
is "$rc" 2 "a password line longer than the CLI reads is refused, not cut"
like "$out" "too long" "... saying so"
"$S" user ls > "$TMP/users.txt"
like "$(head -1 "$TMP/users.txt")" '^USERNAME +ROLE +DISABLED' "user ls prints a table header"
is "$(awk 'NR>1 {print $1}' "$TMP/users.txt" | tr '\n' ' ')" "admin carol " "... and the users in name order"
is "$("$S" user ls --json | jq -r '.items | map(.username) | join(",")')" "admin,carol" "user ls --json"
is "$("$S" user ls --json | jq -c 'keys')" '["items","next_cursor"]' "... in the server's list shape, all pages merged"
is "$("$S" user ls --json | jq -r .next_cursor)" null "... nothing left"
is "$("$S" user ls --limit 1 --json | jq '.items | length')" 1 "user ls --limit"
like "$("$S" user ls --limit 1 --json | jq -r .next_cursor)" '.' "... with the server's cursor for the rest"
is "$("$S" user ls --json | wc -l)" 1 "--json not on a terminal: one compact line"
is "$("$S" whoami --json)" "$(curl -s -H "Authorization: Bearer $(jq -r .token "$CRED")" "$URL/api/v1/me")" \
	"whoami --json prints exactly what the server sent"
"$S" user set-role carol admin >/dev/null
is "$("$S" user ls --json | jq -r '.items[] | select(.username=="carol") | .role')" admin "user set-role"
"$S" user disable carol >/dev/null
is "$("$S" user ls --json | jq -r '.items[] | select(.username=="carol") | .disabled')" true "user disable"
"$S" user enable carol >/dev/null
is "$("$S" user ls --json | jq -r '.items[] | select(.username=="carol") | .disabled')" false "user enable"

is "$("$S" group create ml --description 'ML team')" "Created group ml" "group create"
is "$("$S" group add ml carol)" "Added carol to ml" "group add"
like "$("$S" group show ml)" 'carol' "group show lists the member"
is "$("$S" group ls --json | jq -r '.items[0].members')" 1 "group ls counts members"
out=$("$S" group add ml nobody 2>&1); rc=$?
is "$rc" 1 "adding an unknown user fails"
like "$out" "not_found: no user 'nobody'" "... naming the user"
is "$("$S" group remove ml carol)" "Removed carol from ml" "group remove"
is "$("$S" group rm ml)" "Removed group ml" "group rm"

tok=$("$S" token create ci | head -1)
like "$tok" '^snt_' "token create prints the token"
is "$(curl -s -H "Authorization: Bearer $tok" "$URL/api/v1/me" | jq -r .username)" admin "... which works on the API"
tid=$("$S" token ls --json | jq -r '.items[] | select(.name=="ci") | .id')
like "$tid" '^tok_' "token ls lists it"
is "$("$S" token revoke "$tid")" "Revoked token $tid" "token revoke"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$URL/api/v1/me")" 401 \
	"... after which it is refused"
is "$("$S" whoami --token "$tok" 2>&1 >/dev/null | grep -c unauthorized)" 1 "--token overrides the stored token"

"$S" audit --json --action group.create > "$TMP/audit.json"
is "$(jq -r '.items[0].target' "$TMP/audit.json")" ml "audit --action filters"
is "$("$S" audit --json --limit 2 | jq '.items | length')" 2 "audit --limit"
is "$("$S" audit --json --action group.create --since 1h | jq -r '.items[0].target')" ml "audit --since 1h"
is "$("$S" audit --json --action group.create --since 2w --until 30m | jq '.items | length')" 0 \
	"audit --until 30m: the record is newer"
is "$("$S" audit --json --action group.create --since 1d | jq -r '.items[0].ts')" \
	"$(curl -s -H "Authorization: Bearer $(jq -r .token "$CRED")" "$URL/api/v1/audit?action=group.create" | jq -r '.items[0].ts')" \
	"times are printed as the server sent them"
like "$("$S" audit --action group.create | awk 'NR==2 {print $1}')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' \
	"... in tables too (RFC 3339)"
tok2=$("$S" token create expiring --expires-in-days 3 --json | jq -r .expires_at)
like "$tok2" '^[0-9]{4}-' "token create --expires-in-days (the API's name)"
tok3=$("$S" token create expiring2 --expires-days 3 --json | jq -r .expires_at)
like "$tok3" '^[0-9]{4}-' "... --expires-days still works"

# Own password: the other sessions end, this one stays.
other=$(login admin adminpass123)
out=$(SENTINEL_PASSWORD=nope SENTINEL_NEW_PASSWORD=newadminpass1 "$S" passwd 2>&1); rc=$?
is "$rc" 1 "passwd with a wrong current password fails"
like "$out" "current_password" "... naming the field"
out=$(SENTINEL_PASSWORD=adminpass123 SENTINEL_NEW_PASSWORD=newadminpass1 "$S" passwd 2>&1)
like "$out" "Password changed" "passwd"
is "$("$S" whoami)" "admin (superadmin) on $URL" "... the CLI's session goes on"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $other" "$URL/api/v1/me")" 401 \
	"... the other session ended"
is "$(login admin newadminpass1 | cut -c1-4)" snt_ "... and the new password logs in"

out=$("$S" user frobnicate 2>&1); rc=$?
is "$rc" 2 "an unknown subcommand exits 2"
is "$(printf '%s\n' "$out" | wc -l)" 1 "... with one line"
out=$("$S" user ls --server http://127.0.0.1:1 --token x 2>&1); rc=$?
is "$rc" 1 "an unreachable server exits 1"
like "$out" "^sentinel user ls: cannot reach the server" "... saying so"

"$S" group create zz-esc --description "$(printf 'line1\n\033[31mred')" >/dev/null
is "$("$S" group show zz-esc | head -1)" 'zz-esc: line1\n\x1b[31mred' "group show escapes control characters from the server"
is "$("$S" logout)" "Logged out" "logout"
ok "$([ ! -e "$CRED" ]; echo $?)" "... removes the credentials"
out=$("$S" whoami 2>&1); rc=$?
is "$rc" 1 "whoami after logout fails"
like "$out" "not logged in" "... saying why"
done_testing
