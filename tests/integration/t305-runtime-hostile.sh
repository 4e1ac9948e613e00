#!/usr/bin/env bash
# Hostile runtime uploads: a docker-save archive whose layer is a FIFO, a
# member 2041 directories deep, a hard link through a symlink, a corrupt
# archive — each a prompt 422 JSON error, after which uploads and deletes
# still work and SIGTERM still stops the server. Also: staging directories
# left by a crash go at start, a sparse member keeps its size, a full disk
# is a 507, and `runtime ingest` of a deep path exits 1 with a message.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
RT=$SERVER_DATA/runtimes

$PY - "$TMP" <<'EOF'
import io, json, sys, tarfile
d = sys.argv[1]
def f(name, data=b"x"):
    ti = tarfile.TarInfo(name); ti.size = len(data); return ti, io.BytesIO(data)
def special(name, kind, target=""):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = target; return ti, None
def mk(name, entries, fmt=tarfile.GNU_FORMAT):
    with tarfile.open(f"{d}/{name}.tar", "w", format=fmt) as t:
        for ti, data in entries:
            t.addfile(ti, data)
m = json.dumps([{"Config": "c.json", "Layers": ["abc/layer.tar"]}]).encode()
mk("fifo", [special("abc", tarfile.DIRTYPE), special("abc/layer.tar", tarfile.FIFOTYPE),
            f("c.json", b"{}"), f("manifest.json", m)])
mk("deep", [f("a/" * 2040 + "f")], tarfile.PAX_FORMAT)
mk("hlsym", [f("d/f"), special("l", tarfile.SYMTYPE, "d/f"), special("h", tarfile.LNKTYPE, "l/x")])
mk("ok", [f("etc/marker", b"marker\n")])
mk("ok2", [f("etc/other", b"other\n")])
open(f"{d}/corrupt.tar", "wb").write(open(f"{d}/ok.tar", "rb").read()[:700])
EOF
# A file whose last 1 MiB is a hole (GNU sparse format).
mkdir -p "$TMP/sp"
printf head >"$TMP/sp/s"
truncate -s 2M "$TMP/sp/s"
tar -S -C "$TMP/sp" -cf "$TMP/sparse.tar" s

# A crash left a staging directory behind.
mkdir -p "$RT/.staging-crashed/rootfs/etc"
echo partial >"$RT/.staging-crashed/rootfs/etc/partial"
start_server
TOKEN=$(login admin adminpass123)
is "$(ls -A "$RT" | grep -c '^\.staging-')" "0" "a staging directory left by a crash is removed at start"

# Every request has a deadline: a server stuck on the FIFO must fail the
# test, not hang it.
upload() { # upload NAME FILE: POST it
	call POST "/api/v1/runtimes/upload?name=$1" --max-time 20 -H "Authorization: Bearer $TOKEN" \
		-H "Content-Type: application/x-tar" --data-binary @"$2"
}
req() { # req METHOD PATH
	call "$1" "$2" --max-time 20 -H "Authorization: Bearer $TOKEN"
}

t0=$(date +%s)
upload fifo "$TMP/fifo.tar"
is_error 422 refused "a docker-save archive whose layer is a FIFO is refused with 422"
like "$(errmsg)" "abc/layer.tar" "... naming the layer"
upload ok "$TMP/ok.tar"
is "$STATUS $(jbody .name)" "201 ok" "a following upload works"
req DELETE /api/v1/runtimes/ok
is "$STATUS" "200" "... and so does a delete"
ok "$([ $(($(date +%s) - t0)) -lt 15 ]; echo $?)" "... promptly (nothing waits on the FIFO)"

upload deep "$TMP/deep.tar"
is_error 422 refused "a member 2041 directories deep is refused with 422"
like "$(errmsg)" "too long or too deep" "... saying why"
upload hlsym "$TMP/hlsym.tar"
is_error 422 refused "a hard link through a symlink to a file is a 422, not a 500"
upload corrupt "$TMP/corrupt.tar"
is_error 422 bad_archive "a truncated archive is a 422 bad_archive"
is "$(ls -A "$RT" | grep -vx -e incoming -e names -e .lock | wc -l) $(ls "$RT/names" | wc -l)" "0 0" \
	"refused uploads leave no tree, no staging directory and no record"

upload sparse "$TMP/sparse.tar"
is "$STATUS" "201" "a sparse archive is ingested"
is "$(stat -c %s "$RT/$(jbody .sha256)/rootfs/s" 2>&1)" "2097152" "... a member ending in a hole keeps its full size"
req GET /api/v1/runtimes/sparse
is "$STATUS $(jbody .kind)" "200 image" "the server still serves runtimes"

stop_server_within 10 TERM
is "$STOP_RC" "0" "SIGTERM stops the server after the hostile uploads"

out=$("$SENTINEL_BIN" runtime ingest "$TMP/deep.tar" --name deep --data "$TMP/cli" 2>&1)
rc=$?
is "$rc" "1" "runtime ingest of a deep path exits 1 (not a signal)"
like "$out" "^sentinel runtime ingest: member path too long or too deep" "... with a clear message"
out=$(timeout 20 "$SENTINEL_BIN" runtime ingest "$TMP/fifo.tar" --name fifo --data "$TMP/cli" 2>&1)
is "$?" "1" "runtime ingest of a FIFO layer fails promptly"

# A full disk: the data directory on a 4 MiB tmpfs, an archive of 8 MiB
# of zeros that compresses to a few KiB: the extraction fails with ENOSPC.
if [ "$(id -u)" -eq 0 ] && mkdir -p "$TMP/small" && mount -t tmpfs -o size=4m tmpfs "$TMP/small" 2>/dev/null; then
	mkdir -p "$TMP/z"
	head -c 8M /dev/zero >"$TMP/z/zeros"
	tar -C "$TMP/z" -czf "$TMP/zeros.tar.gz" zeros
	SERVER_DATA=$TMP/small/data
	# The HTTP layer keeps some space free for uploads: none here, so that
	# the disk fills during extraction.
	SENTINEL_MIN_FREE_DISK=1 start_server
	TOKEN=$(login admin adminpass123)
	upload zeros "$TMP/zeros.tar.gz"
	is_error 507 insufficient_storage "an image that does not fit the disk is a 507"
	like "$(errmsg)" "zeros" "... naming the member that did not fit"
	is "$(ls -A "$SERVER_DATA/runtimes" | grep -c '^\.staging-')" "0" "... leaving no staging directory"
	upload ok2 "$TMP/ok2.tar"
	is "$STATUS" "201" "... after which a small upload works"
	stop_server_within 10 TERM
	umount "$TMP/small"
else
	echo "ok $((T_N += 1)) # SKIP needs root and tmpfs for the full-disk case"
fi

done_testing
