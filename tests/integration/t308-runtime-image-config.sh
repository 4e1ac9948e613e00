#!/usr/bin/env bash
# An ingested `docker save` image runs as its config says: Env (PATH
# included: a bare command is found in the image's PATH), WorkingDir, and
# Entrypoint + Cmd when `sandbox run` is given no command. The image holds
# one static binary built here, which prints its cwd, environment and argv.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
PY=/usr/bin/python3
DATA=$TMP/data
rt() { "$SENTINEL_BIN" runtime "$@" --data "$DATA"; }
run() { "$SENTINEL_BIN" sandbox run --data "$DATA" "$@"; }

cat >"$TMP/show.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	char d[4096];
	const char *g = getenv("GREETING");
	printf("cwd=%s\n", getcwd(d, sizeof d) ? d : "?");
	printf("PATH=%s\n", getenv("PATH"));
	printf("GREETING=%s\n", g ? g : "");
	for (int i = 0; i < argc; i++)
		printf("argv=%s\n", argv[i]);
	return 0;
}
C
cc -static -O -o "$TMP/show" "$TMP/show.c" 2>"$TMP/cc.err" ||
	{ echo "1..0 # SKIP cannot link a static binary: $(head -1 "$TMP/cc.err")"; exit 0; }

# img: Env, WorkingDir (not in the layers: made at ingest), Entrypoint, Cmd.
# bare: no config file at all beyond architecture/os.
$PY - "$TMP" <<'PYEOF'
import hashlib, io, json, sys, tarfile
d = sys.argv[1]
def layer():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name in ("opt", "opt/bin"):
            ti = tarfile.TarInfo(name); ti.type, ti.mode = tarfile.DIRTYPE, 0o755; t.addfile(ti)
        data = open(f"{d}/show", "rb").read()
        ti = tarfile.TarInfo("opt/bin/show"); ti.size, ti.mode = len(data), 0o755
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
def image(out, config):
    l = layer()
    lname = hashlib.sha256(l).hexdigest() + "/layer.tar"
    cfg = json.dumps(config).encode()
    cname = hashlib.sha256(cfg).hexdigest() + ".json"
    m = json.dumps([{"Config": cname, "RepoTags": ["t:1"], "Layers": [lname]}]).encode()
    with tarfile.open(out, "w") as t:
        for name, data in ((lname, l), (cname, cfg), ("manifest.json", m)):
            ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
image(f"{d}/img.tar", {"architecture": "amd64", "os": "linux", "config": {
    "Env": ["PATH=/opt/bin:/usr/bin", "GREETING=hello"], "WorkingDir": "/app",
    "Entrypoint": ["/opt/bin/show", "ep"], "Cmd": ["cmd1", "cmd 2"]}})
image(f"{d}/bare.tar", {"architecture": "amd64", "os": "linux"})
PYEOF

rt ingest "$TMP/img.tar" --name img --json >"$TMP/ingest.out" 2>"$TMP/ingest.err"
is "$?" "0" "ingest of an image with a config succeeds"
is "$(jq -c '.config' "$TMP/ingest.out")" \
	'{"env":["PATH=/opt/bin:/usr/bin","GREETING=hello"],"working_dir":"/app","entrypoint":["/opt/bin/show","ep"],"cmd":["cmd1","cmd 2"]}' \
	"... the record keeps Env, WorkingDir, Entrypoint and Cmd"
ok "$([ -d "$(jq -r .path "$TMP/ingest.out")/app" ]; echo $?)" "... and the WorkingDir missing from the layers is made in the tree"

run --runtime img >"$TMP/noargs.out" 2>"$TMP/noargs.err"
is "$?" "0" "with no command, the image's Entrypoint + Cmd run"
is "$(grep '^argv=' "$TMP/noargs.out" | tr '\n' '|')" "argv=/opt/bin/show|argv=ep|argv=cmd1|argv=cmd 2|" \
	"... as Entrypoint then Cmd, each argument whole"
is "$(grep -E '^(PATH|GREETING)=' "$TMP/noargs.out" | tr '\n' '|')" "PATH=/opt/bin:/usr/bin|GREETING=hello|" \
	"the job sees the image's Env, PATH included"
is "$(grep '^cwd=' "$TMP/noargs.out")" "cwd=/app" "the job starts in the image's WorkingDir"
run --runtime img --cwd / >"$TMP/cwd.out" 2>&1
is "$(grep '^cwd=' "$TMP/cwd.out")" "cwd=/" "--cwd wins over WorkingDir"
run --runtime img --cwd /nope >"$TMP/cwd.out" 2>&1
isnt "$?" 0 "a --cwd that does not exist fails the run"
run --runtime img --cwd /a/../b >"$TMP/cwd.out" 2>&1
is "$?" 125 "a --cwd with '..' is refused before the run"
like "$(cat "$TMP/cwd.out")" "without '\.\.'" "... saying why"

run --runtime img --env GREETING=override -- show x >"$TMP/cmd.out" 2>"$TMP/cmd.err"
is "$?" "0" "a bare command name is found in the image's PATH"
is "$(grep -E '^(argv|GREETING)=' "$TMP/cmd.out" | tr '\n' '|')" "GREETING=override|argv=show|argv=x|" \
	"a given command replaces Entrypoint and Cmd; --env wins over the image's Env"

run --runtime img --workdir "$TMP/wd" -- show >"$TMP/wd.out" 2>"$TMP/wd.err"
is "$(grep '^cwd=' "$TMP/wd.out")" "cwd=/work" "--workdir wins over the image's WorkingDir"

rt ingest "$TMP/bare.tar" --name bare --json >"$TMP/bare.out" 2>&1
is "$(jq -c .config "$TMP/bare.out")" "{}" "an image whose config sets nothing has an empty config"
run --runtime bare >"$TMP/bare-run.out" 2>"$TMP/bare-run.err"
is "$?" "2" "with no command and no Entrypoint or Cmd, sandbox run is a usage error"
like "$(cat "$TMP/bare-run.err")" "no command given" "... saying so"
run --runtime bare -- /opt/bin/show >"$TMP/bare-cmd.out" 2>&1
is "$(grep -E '^(PATH|cwd)=' "$TMP/bare-cmd.out" | tr '\n' '|')" \
	"cwd=/tmp|PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin|" \
	"... and with a command it runs with the sandbox's defaults"

# A record written before image configs were kept still runs.
SHA=$(jq -r .sha256 "$TMP/ingest.out")
printf '{"name":"old","kind":"image","created_ms":1700000000000,"bytes":1,"sha256":"%s"}' "$SHA" \
	>"$DATA/runtimes/names/old.json"
run --runtime old -- /opt/bin/show >"$TMP/old.out" 2>&1
is "$? $(grep '^PATH=' "$TMP/old.out")" "0 PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin" \
	"an old record without a config runs with the defaults"
is "$(rt ls --json | jq -r '.[] | select(.name == "old") | .created_at')" "2023-11-14T22:13:20.000Z" \
	"... and lists its creation time in RFC 3339"

is "$(cat "$TMP"/*.err "$TMP"/*.out 2>/dev/null | grep -Ec -- "$SANITIZER_RE")" "0" "no sanitizer report"
done_testing
