#!/usr/bin/env bash
# One config file for a whole host: [server], [engine], [cli]... sections
# give each role its own value of a shared key (listen, batch, server);
# SENTINEL_<ROLE>_<NAME> wins over SENTINEL_<NAME>; a misspelt section is
# an error, not settings silently dropped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../ml/engine_lib.sh"
S=$SENTINEL_BIN
D=$TMP/mldata
/usr/bin/python3 "$(dirname "$0")/../ml/make_data.py" "$D" &&
	"$S" train --data "$D/train.csv" --columns f0,f1,f2,f3,f4,f5,f6,f7 \
		--hidden 6,2,6 --epochs 3 --out "$TMP/m" >/dev/null 2>"$TMP/train.err"
ok $? "a model to serve"

# 256.0.0.1 cannot be listened on: a role that picked up the unsectioned
# key would fail to start.
cat >"$TMP/host.conf" <<CONF
# the whole host
listen = 256.0.0.1:1
threads = 1
[server]
listen = 127.0.0.1:0
[engine]
listen = 127.0.0.1:0
max-line = 100
[runtime]
data = $TMP/rtdata
CONF
SERVER_LISTEN= start_server --config "$TMP/host.conf"
like "$URL" '^http://127\.0\.0\.1:[0-9]+$' "the server listens on its [server] address"
start_engine "$TMP/m" --config "$TMP/host.conf"
like "$EPORT" '^[0-9]+$' "the engine listens on its [engine] address, not the unsectioned one"
like "$(cat "$TMP/engine.out")" ' 1 threads' "... and takes the unsectioned threads"
exec 3<>"/dev/tcp/127.0.0.1/$EPORT"
printf '%s\n' "$(head -c 200 /dev/zero | tr '\0' '1')" >&3
read -r -t 5 l <&3
exec 3>&-
is "$l" "error,line longer than 100 bytes" "... and its [engine] max-line"
stop_engine

# Role variables beat shared ones.
SENTINEL_LISTEN=256.0.0.1:1 SENTINEL_ENGINE_LISTEN=127.0.0.1:0 start_engine "$TMP/m" --threads 1
like "$EPORT" '^[0-9]+$' "SENTINEL_ENGINE_LISTEN wins over SENTINEL_LISTEN for the engine"
stop_engine
SENTINEL_LISTEN=256.0.0.1:1 "$S" engine --model "$TMP/m" --threads 1 >/dev/null 2>"$TMP/e.err"
isnt "$?" 0 "SENTINEL_LISTEN alone still applies to the engine"

# [runtime] data: used by runtime commands whatever the current directory.
mkdir -p "$TMP/elsewhere" "$TMP/tiny/etc"
echo hi >"$TMP/tiny/etc/hello"
tar -C "$TMP/tiny" -cf "$TMP/tiny.tar" .
(cd "$TMP/elsewhere" && "$S" runtime ingest "$TMP/tiny.tar" --name tiny --config "$TMP/host.conf" \
	>/dev/null 2>"$TMP/rt.err")
ok $? "runtime ingest with the host config"
ok "$([ -d "$TMP/rtdata/runtimes" ] && [ ! -e "$TMP/elsewhere/sentinel-data" ]; echo $?)" \
	"... keeps its state in [runtime] data, nothing in the current directory"
is "$("$S" status --local --json --config "$TMP/host.conf" | jq -r '.data + " " + .data_from')" \
	"$TMP/rtdata $TMP/host.conf [runtime]" "status --local names the file and section"
is "$(SENTINEL_RUNTIME_DATA=/x "$S" status --local --json --config "$TMP/host.conf" | jq -r .data_from)" \
	SENTINEL_RUNTIME_DATA "... or the variable"
is "$(env -u SENTINEL_DB "$S" status --local --json --config "$TMP/host.conf" | jq -r .database)" \
	"$TMP/rtdata/sentinel.db" "status --local: the database in the data directory"
if on_pg; then
	is "$("$S" status --local --json --config "$TMP/host.conf" | jq -r .database)" "$SENTINEL_DB" \
		"... or the one SENTINEL_DB names"
fi
is "$("$S" status --local --json --config "$TMP/host.conf" \
	--db 'postgres://sen:s3cret@db.example/s?sslmode=require&password=x' | jq -r .database)" \
	"postgres://sen:***@db.example/s?sslmode=require&password=***" \
	"... or the --db store, its passwords hidden"

# [cli]: the API clients' server URL.
printf '[cli]\nserver = %s\n' "$URL" >"$TMP/cli.conf"
tok=$(login admin adminpass123)
is "$(SENTINEL_CLI_TOKEN=$tok "$S" whoami --config "$TMP/cli.conf" | cut -d' ' -f1)" admin \
	"[cli] server and SENTINEL_CLI_TOKEN reach the server"

printf 'listen = 127.0.0.1:0\n[enigne]\nlisten = 127.0.0.1:0\n' >"$TMP/typo.conf"
"$S" engine --model "$TMP/m" --config "$TMP/typo.conf" >/dev/null 2>"$TMP/typo.err"
is "$?" 2 "an unknown section is a usage error"
like "$(cat "$TMP/typo.err")" "typo.conf:2: unknown section \[enigne\]" "... naming the line"
like "$("$S" engine --help)" "SENTINEL_ENGINE_<NAME> > SENTINEL_<NAME>" "--help states the precedence"
san_clean "$TMP/engine.log" "no sanitizer reports in the engine log"
done_testing
