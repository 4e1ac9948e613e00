#!/usr/bin/env bash
# sentinel collect's refusals before CMD starts (usage, tags the server
# would refuse, intervals out of range, a command that does not exist) and
# a server that refuses every push for good (a bad token): the command's
# status still passes through, the refusal is named once with its HTTP
# status and message, and nothing is stored.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
export SENTINEL_SERVER=$URL SENTINEL_TOKEN=$TOKEN
S=$SENTINEL_BIN

# collect_err ARGS...: runs collect, sets RC and ERR (its standard error).
collect_err() {
	"$S" collect "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	ERR=$(tr '\n' ' ' <"$TMP/err")
}

# ---- usage ----
collect_err -- true
is "$RC" 2 "collect without --agent: exit 2"
like "$ERR" 'usage: sentinel collect --agent NAME' "... with the synopsis"
collect_err --agent u1
is "$RC" 2 "collect without a command: exit 2"
like "$ERR" 'usage: sentinel collect' "... with the synopsis"

# ---- tags ----
TAGS=()
for i in $(seq 1 17); do TAGS+=(--tag "k$i=v"); done
collect_err --agent u1 "${TAGS[@]}" -- true
is "$RC" 2 "collect with 17 tags: exit 2"
like "$ERR" 'at most [0-9]+ tags' "... saying how many are allowed"
collect_err --agent u1 --tag novalue -- true
is "$RC" 2 "collect --tag without '=': exit 2"
is "$ERR" "sentinel collect: --tag novalue: expected K=V " "... naming the tag"
collect_err --agent u1 --tag 'a b=1' -- true
is "$RC" 2 "collect --tag with a key the server would refuse: exit 2"
like "$ERR" '^sentinel collect: .*tag' "... with the server's own check's message"
collect_err --agent 'bad agent' -- true
is "$RC" 2 "collect --agent with a space: exit 2"

# ---- intervals ----
collect_err --agent u1 --interval 50ms -- true
is "$RC $ERR" "2 sentinel collect: --interval must be between 100ms and 1h " "--interval 50ms refused"
collect_err --agent u1 --interval 2h -- true
is "$RC $ERR" "2 sentinel collect: --interval must be between 100ms and 1h " "--interval 2h refused"
collect_err --agent u1 --interval soon -- true
is "$RC" 2 "--interval that is not a duration refused"
collect_err --agent u1 --gpu-interval 500ms -- true
is "$RC $ERR" "2 sentinel collect: --gpu-interval must be at least 1s " "--gpu-interval 500ms refused"

# ---- a command that cannot run ----
collect_err --agent u2 --interval 200ms -- /nonexistent/cmd-$$
is "$RC" 127 "a command that does not exist: exit 127, as a shell says"
like "$ERR" "cannot run /nonexistent/cmd-$$: No such file or directory" "... naming it"
printf '#!/bin/sh\necho hi\n' >"$TMP/noexec"
chmod 644 "$TMP/noexec"
collect_err --agent u2 --interval 200ms -- "$TMP/noexec"
is "$RC" 126 "a command that is not executable: exit 126"
like "$ERR" 'Permission denied' "... saying why"

api GET "/api/v1/metrics/export?format=ndjson&agent=u1&from=0&to=4102444800000"
is "$STATUS ${BODY:-empty}" "200 empty" "nothing pushed under u1 by the refused runs"

# ---- pushes refused for good ----
SENTINEL_TOKEN=not-a-token collect_err --agent u3 --interval 200ms -- sh -c 'sleep 0.6; exit 5'
is "$RC" 5 "a refused token: the command's status still passes through"
like "$ERR" 'push refused \(HTTP 401: [^)]+\)' "... the refusal named with its status and message"
unlike "$ERR" 'retrying' "... and not retried (a 401 cannot get better)"
api GET "/api/v1/metrics/export?format=ndjson&agent=u3&from=0&to=4102444800000"
is "$STATUS ${BODY:-empty}" "200 empty" "... nothing stored"

done_testing
