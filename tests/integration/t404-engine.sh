#!/usr/bin/env bash
# The engine's line protocol: pipelined bursts from several connections are
# answered correctly and in order, bad lines get error lines and the
# connection goes on, a client that resets mid-burst harms nobody, lines
# and connections are capped; the producer honours ENGINE_HOST/ENGINE_PORT
# and exits 1 on error replies; a vector scores the same alone and batched;
# --token-file makes clients AUTH first.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../ml/engine_lib.sh"
D=$TMP/data
/usr/bin/python3 "$(dirname "$0")/../ml/make_data.py" "$D" &&
	"$SENTINEL_BIN" train --data "$D/train.csv" --columns f0,f1,f2,f3,f4,f5,f6,f7 \
		--hidden 6,2,6 --epochs 20 --batch 64 --lr 3e-3 --out "$TMP/m" >/dev/null 2>"$TMP/train.err"
ok $? "a model to serve"
awk -F, 'NR > 1 && NR <= 1201' "$D/train.csv" | cut -d, -f3- >"$TMP/rows"
{ echo f0,f1,f2,f3,f4,f5,f6,f7; cat "$TMP/rows"; } >"$TMP/rows.csv"

start_engine "$TMP/m" --threads 2 --max-connections 8 --max-line 1024
"$SENTINEL_BIN" produce --port "$EPORT" --file "$TMP/rows.csv" --window 1 --output "$TMP/ref" >"$TMP/p.out" 2>&1
ok $? "reference scores, one vector in flight at a time"
is "$(wc -l <"$TMP/ref")" 1200 "one reply per row"
like "$(head -n 1 "$TMP/ref")" '^[0-9.e+-]+,[01]$' "replies are score,is_anomaly"
"$SENTINEL_BIN" produce --port "$EPORT" --file "$TMP/rows.csv" --window 1200 --output "$TMP/batched" >"$TMP/pb.out" 2>&1
ok $? "the same rows pipelined (scored in batches)"
cmp -s "$TMP/ref" "$TMP/batched"
ok $? "... get exactly the scores each got alone"

res=$(timeout 60 /usr/bin/python3 "$(dirname "$0")/../ml/burst.py" "$EPORT" "$TMP/rows.csv" "$TMP/ref" 2>&1)
is "$res" ok "4 pipelined bursts with bad lines, and a reset mid-burst: every reply right and in order"

exec 3<>"/dev/tcp/127.0.0.1/$EPORT"
printf '1,2,3\n\n%s\n1,2,3,4,5,6,7,zz\n%s\n' "$(head -n 1 "$TMP/rows")" "$(head -n 1 "$TMP/rows")" >&3
for i in 1 2 3 4 5; do read -r -t 5 line <&3; replies[$i]=$line; done
is "${replies[1]}" "error,expected 8 values, got 3" "wrong count: error line"
is "${replies[2]}" "error,empty line" "empty line: error line"
is "${replies[3]}" "$(head -n 1 "$TMP/ref")" "the connection goes on after errors"
is "${replies[4]}" "error,value 8 is not a number" "bad value: error naming its position"
is "${replies[5]}" "$(head -n 1 "$TMP/ref")" "and on"
# a line over --max-line: one error, the rest of that line is skipped
printf '%s\n%s\n' "$(head -c 3000 /dev/zero | tr '\0' '1')" "$(head -n 1 "$TMP/rows")" >&3
read -r -t 5 l1 <&3; read -r -t 5 l2 <&3
is "$l1" "error,line longer than 1024 bytes" "over-long line: error"
is "$l2" "$(head -n 1 "$TMP/ref")" "the next line is served"
# CRLF line ends
printf '%s\r\n' "$(head -n 1 "$TMP/rows")" >&3
read -r -t 5 l3 <&3
is "$l3" "$(head -n 1 "$TMP/ref")" "CRLF accepted"
exec 3>&-

# connection cap: 8 open connections, the 9th is told and closed
for i in $(seq 10 17); do eval "exec $i<>/dev/tcp/127.0.0.1/$EPORT"; done
sleep 0.2
exec 9<>"/dev/tcp/127.0.0.1/$EPORT"
read -r -t 5 capline <&9
is "$capline" "error,too many connections" "connection over the cap is refused with a message"
exec 9>&-
for i in $(seq 10 17); do eval "exec $i>&-"; done
sleep 0.2

# the producer: ENGINE_HOST / ENGINE_PORT, random vectors, several connections
ENGINE_HOST=127.0.0.1 ENGINE_PORT=$EPORT "$SENTINEL_BIN" produce --random 20000 --model "$TMP/m" \
	--connections 3 >"$TMP/p2.out" 2>&1
ok $? "produce with ENGINE_HOST/ENGINE_PORT"
like "$(cat "$TMP/p2.out")" "sent 20000, replies 20000, anomalies [0-9]+, errors 0, .* vectors/s, latency p50 .* us, p99 .* us" "summary line"
ENGINE_PORT=1 "$SENTINEL_BIN" produce --random 5 --dim 8 --port "$EPORT" >"$TMP/p3.out" 2>&1
ok $? "--port overrides ENGINE_PORT"
"$SENTINEL_BIN" produce --random 5 --dim 3 --port "$EPORT" >"$TMP/p4.out" 2>&1
is "$?" 1 "produce exits 1 when replies were errors"
like "$(cat "$TMP/p4.out")" "errors 5" "wrong dimension: every reply is an error"
like "$(cat "$TMP/p4.out")" "5 of 5 replies were errors" "... and says so on stderr"
like "$(cat "$TMP/p4.out")" "first error reply: error,expected 8 values, got 3" "the first error is shown"
"$SENTINEL_BIN" produce --random 5 --dim 8 --port 1 >"$TMP/p5.out" 2>&1
isnt $? 0 "produce fails when no engine listens"
like "$(cat "$TMP/p5.out")" "cannot connect to 127.0.0.1:1" "and says where"
"$SENTINEL_BIN" produce --random 1000 --dim 8 --port "$EPORT" --rate 5000 >"$TMP/p6.out" 2>&1
secs=$(sed -n 's/.*errors 0, \([0-9.]*\) s,.*/\1/p' "$TMP/p6.out")
ok "$(awk -v s="$secs" 'BEGIN { exit !(s >= 0.15) }'; echo $?)" "--rate 5000 paces 1000 vectors (took ${secs}s, >= 0.15)"

stop_engine
is "$ENGINE_RC" 0 "engine exits 0 on SIGTERM after all that"
san_clean "$TMP/engine.log" "no sanitizer reports in the engine log"

# --token-file: the first line must be AUTH <token>
printf 's3cret-token\n' >"$TMP/tok"
printf 'wrong-token\n' >"$TMP/badtok"
start_engine "$TMP/m" --threads 1 --token-file "$TMP/tok"
like "$(cat "$TMP/engine.out")" "clients must AUTH" "the engine says it wants a token"
exec 3<>"/dev/tcp/127.0.0.1/$EPORT"
printf '%s\n%s\n' "$(head -n 1 "$TMP/rows")" "$(head -n 1 "$TMP/rows")" >&3
read -r -t 5 a1 <&3
is "$a1" "error,unauthorized: the first line must be AUTH <token>" "no AUTH: an error line"
read -r -t 5 a2 <&3
is "$?:$a2" "1:" "... then the engine closes, scoring nothing"
exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/$EPORT"
printf 'AUTH s3cret-toke\n%s\n' "$(head -n 1 "$TMP/rows")" >&3
read -r -t 5 a3 <&3
is "$a3" "error,unauthorized: the first line must be AUTH <token>" "a wrong token: the same error"
exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/$EPORT"
printf 'AUTH s3cret-token\r\n%s\n' "$(head -n 1 "$TMP/rows")" >&3
read -r -t 5 a4 <&3
is "$a4" "$(head -n 1 "$TMP/ref")" "the right token: vectors are scored"
exec 3>&-
"$SENTINEL_BIN" produce --port "$EPORT" --file "$TMP/rows.csv" --token-file "$TMP/tok" \
	--output "$TMP/authed" >"$TMP/pt.out" 2>&1
ok $? "produce --token-file"
cmp -s "$TMP/ref" "$TMP/authed"
ok $? "... same scores"
"$SENTINEL_BIN" produce --port "$EPORT" --random 50 --dim 8 --token-file "$TMP/badtok" >"$TMP/pt2.out" 2>&1
is "$?" 1 "produce with a wrong token fails"
like "$(cat "$TMP/pt2.out")" "unauthorized" "... saying why"
"$SENTINEL_BIN" produce --port "$EPORT" --random 50 --dim 8 >"$TMP/pt3.out" 2>&1
is "$?" 1 "produce without the token fails"
"$SENTINEL_BIN" engine --model "$TMP/m" --listen 127.0.0.1:0 --token-file "$TMP/nonexistent" >/dev/null 2>"$TMP/nt.err"
is "$?" 1 "a missing token file stops the engine"
printf 'abc\0def\n' >"$TMP/nultok"
"$SENTINEL_BIN" engine --model "$TMP/m" --listen 127.0.0.1:0 --token-file "$TMP/nultok" >/dev/null 2>"$TMP/nt.err"
is "$?" 1 "a token with a NUL byte stops the engine (it used to be cut short silently)"
like "$(cat "$TMP/nt.err")" "NUL" "... saying why"
head -c 40 /dev/zero | tr '\0' t >"$TMP/longtok"
"$SENTINEL_BIN" engine --model "$TMP/m" --listen 127.0.0.1:0 --token-file "$TMP/longtok" --max-line 16 >/dev/null 2>"$TMP/nt.err"
is "$?" 1 "a --max-line shorter than the AUTH line stops the engine"
stop_engine
is "$ENGINE_RC" 0 "the token engine exits 0 on SIGTERM"
san_clean "$TMP/engine.log" "no sanitizer reports in the token engine's log"

# Out of file descriptors, the engine refuses connections instead of spinning
# on a listener that stays readable.
: >"$TMP/engine.log"
(ulimit -n 40; exec "$SENTINEL_BIN" engine --model "$TMP/m" --listen 127.0.0.1:0 --threads 1 \
	--max-connections 1000 >"$TMP/engine.out" 2>>"$TMP/engine.log") &
ENGINE_PID=$!
for _ in $(seq 1 400); do grep -q 'listening on' "$TMP/engine.out" 2>/dev/null && break; sleep 0.05; done
EPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/engine.out")
cpu() { awk '{print $14 + $15}' "/proc/$ENGINE_PID/stat"; }
/usr/bin/python3 - "$EPORT" <<'PY' &
import socket, sys, time
conns = []
for _ in range(60):
    try:
        conns.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2))
    except OSError:
        pass
time.sleep(3)
PY
hold=$!
sleep 1
t0=$(cpu)
sleep 1.5
t1=$(cpu)
ok $(( t1 - t0 < 50 ? 0 : 1 )) "at EMFILE the engine does not spin ($((t1 - t0)) ticks of CPU in 1.5 s)"
warns=$(grep -c 'Too many open files' "$TMP/engine.log")
ok $(( warns < 10 ? 0 : 1 )) "... and logs it at most once a second ($warns lines)"
wait $hold
stop_engine
is "$ENGINE_RC" 0 "... and still exits 0 on SIGTERM"
done_testing
