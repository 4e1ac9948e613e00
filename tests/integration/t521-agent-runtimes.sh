#!/usr/bin/env bash
# Runtimes on nodes. An image uploaded to the server is kept there as its
# tarball; a script job on it runs on a real agent inside the image (a
# file and the Env only the image has; the host's python3 absent), the
# agent fetching the tarball by hash, unpacking its own copy and dropping
# the tarball; a second job on it fetches nothing. A venv registered on a
# node (sentinel runtime register --venv --data STATE) runs a Python job
# there, and the node reports its runtimes; a job on a venv waits for a
# node that has it rather than failing on one that does not. The parts
# that need the server to resolve runtimes (src/sched) are skipped, with
# the reason, on a server that does not; then the agent's own lookup by
# name (an image ingested into STATE) is tested instead.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (the sandbox)"; exit 0; }
start_server --node-timeout 2s --heartbeat 500ms
TOKEN=$(login admin adminpass123)
. "$(dirname "$0")/lib_nodes.sh"

if api POST /api/v1/jobs '{}'; [ "$STATUS" = 404 ]; then
	skip "POST /api/v1/jobs is not there yet"
	finish
fi

cat >"$TMP/show.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	char d[4096], m[64] = "none";
	FILE *f = fopen("/etc/image-marker", "r");
	const char *g = getenv("GREETING"), *o = getenv("SENTINEL_OUTPUT");
	if (f) {
		if (!fgets(m, sizeof m, f))
			strcpy(m, "empty");
		fclose(f);
		m[strcspn(m, "\n")] = 0;
	}
	printf("marker=%s\n", m);
	printf("GREETING=%s\n", g ? g : "");
	printf("python3=%s\n", access("/usr/bin/python3", F_OK) == 0 ? "present" : "absent");
	printf("cwd=%s\n", getcwd(d, sizeof d) ? d : "?");
	printf("argc=%d script=%s\n", argc, argc > 1 ? argv[1] : "");
	if (o) {
		snprintf(d, sizeof d, "%s/result.json", o);
		if ((f = fopen(d, "w"))) {
			fputs("{\"samples\":{\"x\":[1,3]}}", f);
			fclose(f);
		}
	}
	return 0;
}
C
cc -static -O -o "$TMP/show" "$TMP/show.c" 2>"$TMP/cc.err" ||
	{ skip "cannot link a static binary: $(head -1 "$TMP/cc.err")"; finish; }
# A `docker save` image: /opt/bin/show, /etc/image-marker, Env.
python3 - "$TMP" <<'PYEOF'
import hashlib, io, json, sys, tarfile
d = sys.argv[1]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    for name in ("opt", "opt/bin", "etc"):
        ti = tarfile.TarInfo(name); ti.type, ti.mode = tarfile.DIRTYPE, 0o755; t.addfile(ti)
    for name, data, mode in (("opt/bin/show", open(f"{d}/show", "rb").read(), 0o755),
                             ("etc/image-marker", b"from-image\n", 0o644)):
        ti = tarfile.TarInfo(name); ti.size, ti.mode = len(data), mode
        t.addfile(ti, io.BytesIO(data))
layer = buf.getvalue()
lname = hashlib.sha256(layer).hexdigest() + "/layer.tar"
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {
    "Env": ["PATH=/opt/bin", "GREETING=hello-from-image"], "WorkingDir": "/app"}}).encode()
cname = hashlib.sha256(cfg).hexdigest() + ".json"
m = json.dumps([{"Config": cname, "RepoTags": ["probe:1"], "Layers": [lname]}]).encode()
with tarfile.open(f"{d}/img.tar", "w") as t:
    for name, data in ((lname, layer), (cname, cfg), ("manifest.json", m)):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
PYEOF
SHA=$(sha256sum <"$TMP/img.tar" | cut -c1-64)

# ---- the server keeps the tarball ----
call POST "/api/v1/runtimes/upload?name=img" -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/img.tar"
is "$STATUS $(jbody .sha256)" "201 $SHA" "upload the image 'img' to the server"
cmp -s "$SERVER_DATA/runtimes/$SHA/archive" "$TMP/img.tar"
ok $? "the server keeps the tarball byte for byte as runtimes/<sha256>/archive"

printf '#!/opt/bin/show\n' >"$TMP/probe.run"
call POST /api/v1/scripts/probe.run/versions -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/probe.run"
is "$STATUS" 201 "push the script 'probe.run' (#!/opt/bin/show: only the image has it)"

start_claimed 1
ok $? "agent 1 is online"
N1=${NODE_OF[1]}

# Does the server resolve runtimes (and put runtime_spec in the chunks)?
api POST /api/v1/jobs '{"name":"bad","script":"probe.run@1","runtime":"no-such-runtime"}'
RESOLVES=0
[ "$STATUS" = 422 ] && RESOLVES=1
[ "$RESOLVES" = 1 ] || diag "the server takes a job on an unknown runtime ($STATUS): it does not resolve runtimes (src/sched patch not applied)"

fetches() { grep -c "runtime image ${SHA:0:12} fetched and unpacked" "$TMP/n1.err"; }
run_job() { # run_job NAME RUNTIME [ITERATIONS]: submits, waits; J and the final state in JS
	local it=${3:-}
	api POST /api/v1/jobs "{\"name\":\"$1\",\"script\":\"probe.run@1\",\"runtime\":\"$2\"${it:+,\"total_iterations\":$it,\"chunk_size\":1},\"limits\":{\"time_s\":60}}"
	J=$(jbody .id)
	[ "$STATUS" = 201 ] || { JS="refused $STATUS $(errmsg)"; return; }
	wait_for 60 job_done "$J"
	JS=$(job_state "$J")
	[ "$JS" = completed ] || { api GET "/api/v1/jobs/$J/chunks"; diag "$BODY"; }
}
check_image_run() { # the log of job $J shows it ran in the image
	api GET "/api/v1/jobs/$J/logs"
	like "$BODY" "marker=from-image" "... inside the image (its /etc/image-marker)"
	like "$BODY" "GREETING=hello-from-image" "... with the image's Env"
	like "$BODY" "python3=absent" "... and without the host's tree"
	like "$BODY" "cwd=/work" "... in /work"
	like "$BODY" "argc=2 script=/job/probe.run" "... the script as its #! interpreter's argument"
}

if [ "$RESOLVES" = 1 ]; then
	like "$(errmsg)" "no-such-runtime" "a job on an unknown runtime: 422 naming it"
	# Two chunks at once on a node with 2 slots: one fetch.
	run_job img1 img 2
	is "$JS" completed "a 2-chunk job on the image completes on agent 1"
	check_image_run
	api GET "/api/v1/jobs/$J"
	is "$(jbody '.result.stats.x.n')" 4 "... both chunks' result.json counted"
	is "$(fetches)" 1 "the agent fetched and unpacked the image once"
	[ -d "$TMP/n1/runtimes/$SHA/rootfs/opt/bin" ]
	ok $? "... into its own STATE/runtimes/<sha256>/rootfs"
	[ ! -e "$TMP/n1/runtimes/$SHA/archive" ] && [ ! -e "$TMP/n1/cache/$SHA" ]
	ok $? "... and kept no tarball (neither beside the tree nor in cache/)"
	run_job img2 img
	is "$JS" completed "a second job on the image completes"
	is "$(fetches)" 1 "... without a second fetch (the unpacked tree is reused)"
	api GET "/api/v1/nodes/$N1"
	is "$(jbody "[.runtimes[] | select(. == \"image:$SHA\")] | length")" 1 \
		"the node reports the image it holds (image:<sha256>)"
else
	skip "the server does not resolve runtimes (src/sched: runtime_spec): image fetch by hash"
	# The agent's own lookup: an image registered on the node by name.
	"$S" runtime ingest "$TMP/img.tar" --name img --data "$TMP/n1" >/dev/null 2>"$TMP/ingest.err"
	is "$?" 0 "ingest the image on the node (sentinel runtime ingest --data STATE)"
	run_job local-img img
	is "$JS" completed "a job on an image registered on the node completes"
	check_image_run
fi

# ---- venv ----
# A venv of the Python under /usr (what the sandbox shows a venv job).
if ! /usr/bin/python3 -m venv --without-pip "$TMP/venv" 2>"$TMP/venv.err"; then
	skip "/usr/bin/python3 -m venv fails: $(head -1 "$TMP/venv.err")"
	finish
fi
printf 'import sys\nprint("prefix", sys.prefix)\n' >"$TMP/where.py"
call POST /api/v1/scripts/where.py/versions -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/where.py"
api POST /api/v1/runtimes/register "{\"name\":\"pyv\",\"venv\":\"$TMP/venv\"}"
is "$STATUS" 201 "register the venv 'pyv' on the server"
"$S" runtime register --venv "$TMP/venv" --name pyv --data "$TMP/n1" >/dev/null 2>"$TMP/reg.err"
is "$?" 0 "register the venv 'pyv' on node 1 (sentinel runtime register --venv --data STATE)"
has_venv() { api GET "/api/v1/nodes/$N1"; [ "$(jbody '[.runtimes[] | select(. == "venv:pyv")] | length')" = 1 ]; }
wait_for 10 has_venv
ok $? "node 1's heartbeat reports venv:pyv (registered while it runs)"
api POST /api/v1/jobs '{"name":"venv","script":"where.py@1","runtime":"pyv","limits":{"time_s":60}}'
VJ=$(jbody .id)
wait_for 60 job_done "$VJ"
is "$(job_state "$VJ")" completed "a Python job on the venv completes on node 1"
api GET "/api/v1/jobs/$VJ/logs"
like "$BODY" "prefix $(realpath "$TMP/venv")" "... run by the venv's interpreter (sys.prefix)"

if [ "$RESOLVES" = 1 ]; then
	# Node 2 has no venv: with node 1 drained, the job waits.
	start_claimed 2
	api POST "/api/v1/nodes/$N1/drain" '{}'
	api POST /api/v1/jobs '{"name":"venv2","script":"where.py@1","runtime":"pyv","limits":{"time_s":60}}'
	WJ=$(jbody .id)
	sleep 2 # four heartbeats of node 2
	is "$(job_state "$WJ")" pending "a venv job is not given to a node without that venv"
	api POST "/api/v1/nodes/$N1/drain" '{"drain":false}'
	wait_for 60 job_done "$WJ"
	is "$(job_state "$WJ")" completed "... and runs once a node with it takes work again"
	api GET "/api/v1/jobs/$WJ/chunks"
	is "$(jbody '[.items[].attempts[].node_id] | unique | join(",")')" "$N1" "... on node 1 only"
else
	skip "the server does not resolve runtimes (src/sched: venv pins): venv scheduling"
fi
finish
