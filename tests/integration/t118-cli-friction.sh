#!/usr/bin/env bash
# Small things a new user hits: the top-level help lists every subcommand,
# new passwords typed at a prompt are asked twice, status --local says where
# local state lives (never the current directory).
. "$(dirname "$0")/lib.sh"
S=$SENTINEL_BIN
export XDG_CONFIG_HOME=$TMP/xdg HOME=$TMP/home

top=$("$S" --help)
for cmd in user group token; do
	subs=$("$S" $cmd --help | awk '/^Subcommands:/ {on = 1; next} on && !NF {exit} on {print $1}')
	line=$(printf '%s\n' "$top" | grep -E "^  $cmd ")
	missing=
	for sub in $subs; do
		printf '%s' "$line" | grep -Eq "[ ,:]$sub(,|$)" || missing="$missing $sub"
	done
	is "${missing:-none}" none "sentinel --help lists every '$cmd' subcommand"
done
like "$(printf '%s\n' "$top" | grep -E '^  runtime ')" 'ingest, scan, register, ls, rm' "... and runtime's"
like "$top" '  status ' "... and status"

# prompt.py ARGS...: runs sentinel on a pseudo-terminal, answers each
# prompt (a line ending in ': ') with the next of $ANSWERS (|-separated),
# prints the output and exits with sentinel's status.
cat >"$TMP/prompt.py" <<'PY'
import os, pty, sys, time
answers = os.environ["ANSWERS"].split("|")
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
deadline = time.time() + 30
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    # answer once the program waits at a prompt (echo is off by then)
    while answers and out.rstrip(b" ").endswith(b":") and out.endswith(b": "):
        time.sleep(0.05)
        os.write(fd, answers.pop(0).encode() + b"\n")
        out += b"\n"
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.WEXITSTATUS(status))
PY
start_server
SENTINEL_PASSWORD=adminpass123 "$S" login --server "$URL" --username admin >/dev/null
out=$(ANSWERS='bobpass-123|bobpass-124' /usr/bin/python3 "$TMP/prompt.py" "$S" user create bob 2>&1); rc=$?
is "$rc" 2 "user create: two different passwords at the prompt exit 2"
like "$out" "the passwords do not match" "... saying why"
api GET /api/v1/users/bob "" "$(login admin adminpass123)"
is "$STATUS" 404 "... and create nobody"
out=$(ANSWERS='bobpass-123|bobpass-123' /usr/bin/python3 "$TMP/prompt.py" "$S" user create bob 2>&1); rc=$?
is "$rc" 0 "the same password twice creates the user"
is "$(printf '%s\n' "$out" | grep -Ec "^(New user's password|Again): ")" 2 "... asked twice"
is "$(login bob bobpass-123 | cut -c1-4)" snt_ "... with that password"
out=$(ANSWERS='x-123456789|y-123456789' /usr/bin/python3 "$TMP/prompt.py" "$S" user passwd bob 2>&1); rc=$?
is "$rc:$(printf '%s' "$out" | grep -c 'do not match')" "2:1" "user passwd: a mismatch exits 2"
out=$(ANSWERS='adminpass123|newpass-12345|newpass-12346' /usr/bin/python3 "$TMP/prompt.py" "$S" passwd 2>&1); rc=$?
is "$rc:$(printf '%s' "$out" | grep -c 'do not match')" "2:1" "passwd: a mismatch of the new password exits 2"
is "$(login admin adminpass123 | cut -c1-4)" snt_ "... and changes nothing"

# status: the server's, and --local
like "$("$S" status)" "^$URL: sentinel [0-9.]+, up since [0-9T:.-]+Z" "status asks the server"
is "$("$S" status --json | jq -r .store)" "$(on_pg && echo postgres || echo sqlite)" "status --json"
unset SENTINEL_DATA
if [ "$(id -u)" = 0 ]; then
	is "$(cd "$TMP" && "$S" status --local --json | jq -r '.data + " | " + .data_from')" \
		"/var/lib/sentinel | default, running as root" "status --local as root: /var/lib/sentinel"
fi
# (SENTINEL_DB, set on PostgreSQL runs, would name the database instead)
is "$(SENTINEL_DATA=$TMP/d env -u SENTINEL_DB "$S" status --local --json | jq -c .)" \
	"{\"data\":\"$TMP/d\",\"data_from\":\"SENTINEL_DATA\",\"database\":\"$TMP/d/sentinel.db\",\"runtimes\":\"$TMP/d/runtimes\"}" \
	"status --local --json: data dir, where it came from, database, runtimes"
like "$("$S" status --local --data "$TMP/x")" "^data +$TMP/x \(--data\)" "status --local in words"
if command -v setpriv >/dev/null; then
	UDIR=$(mktemp -d /tmp/sentinel-t118.XXXXXX)
	chmod 755 "$UDIR"
	cp "$S" "$UDIR/sentinel"
	as_user() { (cd "$UDIR" && env -u SENTINEL_DATA "$@" setpriv --reuid=4242 --regid=4242 --clear-groups \
		"$UDIR/sentinel" status --local --json | jq -r .data); }
	is "$(as_user XDG_DATA_HOME=/srv/xdg HOME=/home/u)" /srv/xdg/sentinel "not root: \$XDG_DATA_HOME/sentinel"
	is "$(as_user XDG_DATA_HOME= HOME=/home/u)" /home/u/.local/share/sentinel "... else ~/.local/share/sentinel"
	rm -rf "$UDIR"
fi
done_testing
