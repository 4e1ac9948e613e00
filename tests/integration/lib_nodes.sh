# Helpers for tests that run real node agents beside a server started by
# lib.sh's start_server. Source after lib.sh; uses $URL, $TOKEN (api) and
# $TMP. Agent N keeps its state in $TMP/nN and writes $TMP/nN.out/.err.
S=$SENTINEL_BIN
declare -A AGENT NODE_OF
skip() { T_N=$((T_N + 1)); echo "ok $T_N # SKIP $1"; }

# agent N [flags...]: starts agent N ($PRE_SERVER, if set, is tried first).
agent() {
	local n=$1
	shift
	"$S" node ${PRE_SERVER:+--server "$PRE_SERVER"} --server "$URL" --state "$TMP/n$n" --name "n$n" --gpus 0 "$@" \
		>>"$TMP/n$n.out" 2>>"$TMP/n$n.err" &
	AGENT[$n]=$!
}
# stop_agent N [SIGNAL]: signals agent N, waits (10 s at most); sets ARC.
stop_agent() {
	local pid=${AGENT[$1]}
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
	wait "$pid" 2>/dev/null
	ARC=$?
	unset "AGENT[$1]"
}
# stop_all_agents: stops every agent gracefully, all at once: SIGTERM
# (drain), after 3 s a second SIGTERM (hand running chunks back), after 5 s
# more SIGKILL. A graceful exit is what lets LeakSanitizer report and gcov
# write the agent's coverage data (both run only at a normal exit).
stop_all_agents() {
	local n pid left
	for pid in "${AGENT[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for i in $(seq 1 160); do
		left=0
		for pid in "${AGENT[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
		[ "$left" = 0 ] && break
		[ "$i" = 60 ] && for pid in "${AGENT[@]}"; do kill -TERM "$pid" 2>/dev/null; done
		sleep 0.05
	done
	for n in "${!AGENT[@]}"; do
		pid=${AGENT[$n]}
		kill -0 "$pid" 2>/dev/null && { diag "agent $n did not stop on SIGTERM: killed"; kill -9 "$pid"; }
		wait "$pid" 2>/dev/null
		unset "AGENT[$n]"
	done
}
# finish: stops every agent, fails on a sanitizer report in their logs,
# then done_testing.
finish() {
	stop_all_agents
	for f in "$TMP"/n*.err; do
		[ -f "$f" ] && grep -Eq -- "$SANITIZER_RE" "$f" && {
			diag "sanitizer report in $f"; grep -E -A12 -- "$SANITIZER_RE" "$f" | head -40 | sed 's/^/#   /'
			T_FAIL=$((T_FAIL + 1)); }
	done
	done_testing
}
# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
	local t=$1
	shift
	for _ in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done
	return 1
}
claim_line() { grep -m1 -o 'sentinel node claim [0-9A-Z]*' "$TMP/n$1.out" 2>/dev/null | awk '{print $4}'; }
has_claim() { [ -n "$(claim_line "$1")" ]; }
node_state() { api GET "/api/v1/nodes/$1"; jbody .state; }
is_online() { [ "$(node_state "$1")" = online ]; }
# start_claimed N [flags...]: starts agent N (2 slots), claims it by its
# printed code, waits until it is online; NODE_OF[N] is its id.
start_claimed() {
	local n=$1
	shift
	agent "$n" --max-parallel 2 "$@"
	wait_for 15 has_claim "$n" || return 1
	api POST /api/v1/nodes/claim "{\"code\":\"$(claim_line "$n")\"}"
	NODE_OF[$n]=$(jbody .id)
	wait_for 15 is_online "${NODE_OF[$n]}"
}
job_state() { api GET "/api/v1/jobs/$1"; jbody .state; }
job_done() { case "$(job_state "$1")" in completed | failed | cancelled) return 0 ;; esac; return 1; }
