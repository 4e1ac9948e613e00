#!/usr/bin/env bash
# runtime ingest/scan/register/ls/rm: a real `docker save` archive built
# here (two layers, whiteouts, an opaque dir) unpacks to the expected tree
# and runs in the sandbox; crafted archives are refused and leave nothing.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
PY=/usr/bin/python3
DATA=$TMP/data
RT=$DATA/runtimes
rt() { "$SENTINEL_BIN" runtime "$@" --data "$DATA"; }

# A docker save archive: layer 1 is a tiny working root (dash + libc),
# layer 2 deletes a file (.wh.), empties a directory (.wh..wh..opq) and adds.
$PY - "$TMP/img.tar" <<'EOF'
import io, json, os, sys, tarfile, hashlib

def layer(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind == "link":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o755 if kind == "exe" else 0o644
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()

def host(p):
    return open(os.path.realpath(p), "rb").read()

l1 = layer([
    ("bin", "dir", None), ("bin/sh", "exe", host("/bin/dash")),
    ("lib", "dir", None), ("lib/x86_64-linux-gnu", "dir", None),
    ("lib/x86_64-linux-gnu/libc.so.6", "exe", host("/lib/x86_64-linux-gnu/libc.so.6")),
    ("lib64", "dir", None), ("lib64/ld-linux-x86-64.so.2", "exe", host("/lib64/ld-linux-x86-64.so.2")),
    ("etc", "dir", None), ("etc/passwd", "file", b"root:x:0:0::/:/bin/sh\n"),
    ("a", "dir", None), ("a/keep", "file", b"keep\n"), ("a/gone", "file", b"gone\n"),
    ("d", "dir", None), ("d/old1", "file", b"1\n"), ("d/sub", "dir", None), ("d/sub/old2", "file", b"2\n"),
    ("usr", "dir", None), ("usr/abs", "link", "/a/keep"), ("usr/rel", "link", "../a/keep"),
])
l2 = layer([
    ("a/.wh.gone", "file", b""), ("d/.wh..wh..opq", "file", b""),
    ("d/new", "file", b"new\n"), ("newfile", "file", b"hello from layer 2\n"),
])
with tarfile.open(sys.argv[1], "w") as t:
    names = []
    for data in (l1, l2):
        h = hashlib.sha256(data).hexdigest()
        ti = tarfile.TarInfo(h + "/layer.tar"); ti.size = len(data)
        t.addfile(ti, io.BytesIO(data)); names.append(h + "/layer.tar")
    cfg = b'{"architecture":"amd64","os":"linux"}'
    ti = tarfile.TarInfo("config.json"); ti.size = len(cfg); t.addfile(ti, io.BytesIO(cfg))
    m = json.dumps([{"Config": "config.json", "RepoTags": ["test:1"], "Layers": names}]).encode()
    ti = tarfile.TarInfo("manifest.json"); ti.size = len(m); t.addfile(ti, io.BytesIO(m))
EOF

rt ingest "$TMP/img.tar" --name img --json >"$TMP/ingest.out" 2>"$TMP/ingest.err"
is "$?" "0" "ingest of a docker save archive succeeds"
SHA=$(sha256sum "$TMP/img.tar" | cut -c1-64)
is "$(jq -r '.kind + " " + .sha256' "$TMP/ingest.out")" "image $SHA" "... registered as an image by the tarball's sha256"
ROOT=$RT/$SHA/rootfs
is "$(cd "$ROOT" && find . -path ./bin -prune -o -path ./lib -prune -o -path ./lib64 -prune -o -print | sort | tr '\n' ' ')" \
	". ./a ./a/keep ./d ./d/new ./etc ./etc/passwd ./newfile ./usr ./usr/abs ./usr/rel " \
	"layers applied in order: .wh.gone removed a/gone, the opaque dir lost its old content"
is "$(readlink "$ROOT/usr/abs") $(readlink "$ROOT/usr/rel")" "/a/keep ../a/keep" "symlinks inside the root are kept"
is "$(ls "$RT" | grep -c '^\.staging')" "0" "no staging directory is left"

# The image has only dash: read the files with shell built-ins.
"$SENTINEL_BIN" sandbox run --data "$DATA" --runtime img -- /bin/sh -c \
	'for f in /newfile /d/new /usr/abs; do while read -r l; do echo "$l"; done <$f; done; echo $PATH; echo /*' >"$TMP/run.out" 2>&1
is "$(cat "$TMP/run.out")" "hello from layer 2
new
keep
/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin
/a /bin /d /dev /etc /lib /lib64 /newfile /proc /tmp /usr" "a job runs in the image: its tree, plus /dev, /proc and /tmp"

rt ls --json >"$TMP/ls.out"
is "$(jq -r '[.[].name] | join(",")' "$TMP/ls.out")" "host,img" "ls lists host and img"
like "$(jq -r '.[1].created_at' "$TMP/ls.out") $(jq -r '.[1] | has("created_ms")' "$TMP/ls.out")" \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z false$' "... with created_at in RFC 3339, no created_ms"
like "$(rt ls | grep '^img ')" '^img +image +[0-9a-f]{12} +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8} +/' \
	"ls rows show the creation time"
rt ingest "$TMP/img.tar" --name img 2>"$TMP/dup.err"
is "$? $(wc -l <"$TMP/dup.err")" "1 1" "ingesting under an existing name fails with one line"
rt ingest "$TMP/img.tar" --name img2 >/dev/null 2>&1
is "$(ls -d "$RT"/*/rootfs | wc -l)" "1" "the same tarball under another name shares the tree"
rt rm img >/dev/null
ok "$([ -d "$ROOT" ]; echo $?)" "removing one name keeps the tree the other uses"
rt rm img2 >/dev/null
ok "$([ ! -e "$RT/$SHA" ]; echo $?)" "removing the last name removes the tree"

# Scan and register from the drop folder.
mkdir -p "$RT/incoming"
cp "$TMP/img.tar" "$RT/incoming/app.tar"
rt scan --json >"$TMP/scan.out"
is "$(jq -r '.[0].file + " " + .[0].sha256' "$TMP/scan.out")" "app.tar $SHA" "scan lists an unregistered tarball"
rt register app.tar --name app >/dev/null
is "$?" "0" "register ingests it from the drop folder"
rt scan --json >"$TMP/scan2.out"
is "$(cat "$TMP/scan2.out")" "[]" "... after which scan no longer lists it"

# A plain root-filesystem tarball, gzip-compressed.
mkdir -p "$TMP/plain/etc" "$TMP/plain/bin"
echo plain >"$TMP/plain/etc/marker"
tar -C "$TMP/plain" -czf "$TMP/plain.tar.gz" .
rt ingest "$TMP/plain.tar.gz" --name plain >/dev/null
PSHA=$(sha256sum "$TMP/plain.tar.gz" | cut -c1-64)
is "$(cat "$RT/$PSHA/rootfs/etc/marker" 2>&1)" "plain" "a plain rootfs tarball (gzip) is unpacked as is"

# Crafted archives: refused, nothing left behind.
$PY - "$TMP" <<'EOF'
import io, sys, tarfile
d = sys.argv[1]
def mk(name, entries):
    with tarfile.open(f"{d}/{name}.tar", "w") as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
def f(name, data=b"x"):
    ti = tarfile.TarInfo(name); ti.size = len(data); return ti, data
def link(name, target, kind=tarfile.SYMTYPE):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = target; return ti, None
def dev(name):
    ti = tarfile.TarInfo(name); ti.type = tarfile.CHRTYPE; ti.devmajor, ti.devminor = 1, 3; return ti, None
mk("dotdot", [f("ok"), f("../x")])
mk("abs", [f("ok"), f("/etc/x")])
mk("symesc", [f("ok"), link("evil", "../../../../../tmp")])
mk("hardesc", [f("ok"), link("evil", "../../etc/passwd", tarfile.LNKTYPE)])
mk("device", [f("ok"), dev("dev/null")])
mk("big", [f("ok"), f("big", b"y" * 300000)])
# A symlink to / then a file through it: allowed, but lands inside the root.
mk("through", [link("l", "/"), f("l/tmp/through-marker", b"inside")])
EOF
for a in dotdot abs symesc hardesc device; do
	rt ingest "$TMP/$a.tar" --name "$a" 2>"$TMP/$a.err"
	RC=$?
	is "$RC $(wc -l <"$TMP/$a.err")" "1 1" "crafted archive '$a' is refused with one line ($(cat "$TMP/$a.err"))"
done
rt ingest "$TMP/big.tar" --name big --max-size 100K 2>"$TMP/big.err"
is "$?" "1" "an archive over --max-size is refused"
like "$(cat "$TMP/big.err")" "size limit" "... saying so"
is "$(ls -A "$RT" | grep -vx -e incoming -e names -e .lock -e scan-cache.json | while read -r d; do [ "$d" = "$SHA" ] || [ "$d" = "$PSHA" ] || echo "$d"; done | wc -l)" "0" \
	"refused archives leave no tree and no staging directory"
is "$(ls "$RT/names" | tr '\n' ' ')" "app.json plain.json " "... and no record"
rt ingest "$TMP/through.tar" --name through >/dev/null 2>&1
TSHA=$(sha256sum "$TMP/through.tar" | cut -c1-64)
is "$(cat "$RT/$TSHA/rootfs/tmp/through-marker" 2>&1) $([ -e /tmp/through-marker ] && echo LEAKED)" "inside " \
	"a file written through a symlink to / lands inside the root, never on the host"

# A venv runtime runs on top of host.
$PY -m venv --without-pip "$TMP/venv" >/dev/null 2>&1
rt register --venv "$TMP/venv" --name v >/dev/null
mkdir -p "$TMP/notvenv"
out=$(rt register --venv "$TMP/notvenv" --name nv 2>&1); rc=$?
isnt "$rc" 0 "registering a directory without pyvenv.cfg fails"
like "$out" "not a Python virtual environment" "... saying why"
out=$(rt register --venv "$TMP/venv" --name v 2>&1); rc=$?
isnt "$rc" 0 "registering a taken name fails"
like "$out" "exists" "... saying so"
"$SENTINEL_BIN" sandbox run --data "$DATA" --runtime v -- /bin/sh -c 'echo $VIRTUAL_ENV; command -v python3; python3 -c "import sys; print(sys.prefix)"' >"$TMP/venv.out" 2>&1
is "$(cat "$TMP/venv.out")" "$TMP/venv
$TMP/venv/bin/python3
$TMP/venv" "a venv runtime: VIRTUAL_ENV, PATH and sys.prefix point at the venv"

# A venv over a Python the sandbox does not show (like a pyenv build under
# /root): refused at registration, naming the interpreter.
mkdir -p "$TMP/pyenv/bin" "$TMP/badvenv/bin"
printf '#!/bin/false\n' >"$TMP/pyenv/bin/python3.11"
chmod +x "$TMP/pyenv/bin/python3.11"
ln -s "$TMP/pyenv/bin/python3.11" "$TMP/badvenv/bin/python3"
printf 'home = %s/pyenv/bin\n' "$TMP" >"$TMP/badvenv/pyvenv.cfg"
out=$(rt register --venv "$TMP/badvenv" --name bv 2>&1); rc=$?
is "$rc $(ls "$RT/names" | grep -c '^bv')" "1 0" "a venv whose interpreter is outside the sandbox's view is refused"
like "$out" "interpreter $(realpath "$TMP/pyenv/bin/python3.11") .* outside what a job in the sandbox sees" \
	"... naming the interpreter and why"

# Usage errors.
rt ingest 2>/dev/null
is "$?" "2" "ingest without FILE and --name is a usage error"
rt ingest "$TMP/img.tar" --name 'bad/name' 2>"$TMP/bn.err"
is "$?" "1" "an invalid name is refused"
rt rm host 2>/dev/null
is "$?" "1" "the host runtime cannot be removed"
"$SENTINEL_BIN" sandbox run --data "$DATA" --runtime nope -- /bin/true 2>"$TMP/nope.err"
is "$? $(cat "$TMP/nope.err")" "2 sentinel sandbox run: no runtime named 'nope' (see 'sentinel runtime ls')" \
	"an unknown runtime is a usage error"

is "$(cat "$TMP"/*.err "$TMP"/*.out 2>/dev/null | grep -Ec -- "$SANITIZER_RE")" "0" "no sanitizer report"
done_testing
