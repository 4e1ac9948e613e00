#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benches (Debian's postgresql).
#   scripts/pg.sh start DIR   initdb in DIR, start on a free loopback port,
#                             print the server's URL (postgres://...@127.0.0.1:PORT/)
#   scripts/pg.sh halt DIR    stop it, keeping DIR; resume DIR starts it again
#   scripts/pg.sh restart DIR stop it (fast: sessions are cut) and start it again
#   scripts/pg.sh stop DIR    stop it and remove DIR
#   scripts/pg.sh createdb URL NAME   a fresh database; prints its URL
#   scripts/pg.sh run CMD...  starts one in a temporary directory, runs CMD with
#                             SENTINEL_TEST_PG set to its URL, stops it (also on
#                             failure or interrupt) and exits with CMD's status
# Runs the server as the postgres user when started as root (initdb refuses
# root). Data, socket and log stay in DIR; nothing touches the system cluster.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "pg.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
free_port() {
  local p
  for _ in $(seq 1 200); do
    # Below the kernel's ephemeral range (32768 and up here): a port that an
    # outgoing connection holds answers no probe but cannot be bound.
    p=$(( 20000 + RANDOM % 12000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "pg.sh: no free port" >&2; exit 1
}
cmd=${1:-}; dir=${2:-}
case "$cmd" in
start)
  [ -n "$dir" ] || { echo "usage: pg.sh start DIR" >&2; exit 2; }
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir" && chmod 700 "$dir"
    # The postgres user must reach DIR: a private parent (a test's mktemp
    # directory) gets search permission only (o+x: nothing is listed).
    d=$(cd "$dir/.." && pwd)
    while [ "$d" != / ]; do
      runuser -u postgres -- test -x "$d" || chmod o+x "$d"
      d=$(dirname "$d")
    done
  fi
  as_pg "$bin/initdb" -D "$dir/data" -U sentinel -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # In the cluster's own configuration, so that halt/resume keep them.
  # Tests open many short-lived servers, each with a pool: room for them.
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 128MB
fsync = on
CONF
  # A port taken between the probe and the bind (another test's cluster or
  # server): another port.
  for try in 1 2 3 4 5; do
    port=$(free_port)
    sed -i '/^port = /d' "$dir/data/postgresql.conf"
    echo "port = $port" >>"$dir/data/postgresql.conf"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null && break
    grep -q 'Address already in use' "$dir/server.log" && [ "$try" -lt 5 ] ||
      { cat "$dir/server.log" >&2; exit 1; }
    : >"$dir/server.log"
  done
  echo "$port" >"$dir/port"
  echo "postgres://sentinel@127.0.0.1:$port/postgres"
  ;;
halt)
  [ -n "$dir" ] || { echo "usage: pg.sh halt DIR" >&2; exit 2; }
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  ;;
resume)
  [ -n "$dir" ] || { echo "usage: pg.sh resume DIR" >&2; exit 2; }
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  ;;
restart)
  [ -n "$dir" ] || { echo "usage: pg.sh restart DIR" >&2; exit 2; }
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
  ;;
stop)
  [ -n "$dir" ] || { echo "usage: pg.sh stop DIR" >&2; exit 2; }
  [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
createdb)
  url=${2:-}; name=${3:-}
  [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "pg.sh: bad database name" >&2; exit 2; }
  PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 "$url" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  echo "${url%/*}/$name"
  ;;
run)
  shift
  [ $# -gt 0 ] || { echo "usage: pg.sh run CMD..." >&2; exit 2; }
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-pg.XXXXXX")
  trap '"$0" stop "$tmp/c"; rm -rf "$tmp"' EXIT
  trap 'exit 130' INT TERM
  SENTINEL_TEST_PG=$("$0" start "$tmp/c")
  export SENTINEL_TEST_PG
  echo "# PostgreSQL for the tests: $SENTINEL_TEST_PG" >&2
  set +e
  "$@"
  rc=$?
  exit $rc
  ;;
*) echo "usage: pg.sh start DIR | stop DIR | createdb URL NAME | run CMD..." >&2; exit 2 ;;
esac
