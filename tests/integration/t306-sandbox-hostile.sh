#!/usr/bin/env bash
# sandbox run against hostile input: an image whose symlinks point at the
# host, a --workdir that is a symlink, and io_uring from inside.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (namespaces, cgroups)"; exit 0; }
PY=/usr/bin/python3

# run_in [flags...] -- CMD...: runs CMD in the sandbox; OUT = stdout+stderr, RC.
run_in() {
	OUT=$("$SENTINEL_BIN" sandbox run "$@" 2>&1)
	RC=$?
	printf '%s\n' "$OUT" >>"$TMP/all.err"
}

# A one-binary image: a static 'cat' at /bin/cat.
IMG=$TMP/img
mkdir -p "$IMG/bin" "$IMG/deep"
printf '%s\n' '#include <stdio.h>' 'int main(int c, char **v) {' \
	'for (int i = 1; i < c; i++) { FILE *f = fopen(v[i], "r"); int ch;' \
	'if (!f) { printf("missing %s\n", v[i]); continue; }' \
	'while ((ch = getc(f)) != EOF) putchar(ch); fclose(f); } return 0; }' >"$TMP/cat.c"
cc -static -O1 -o "$IMG/bin/cat" "$TMP/cat.c"
ok $? "a static cat for the image builds"

# Symlinks of the image that point at a host directory, absolute, relative
# and one level down inside a real directory of the image.
HOST=$TMP/hostdir
mkdir -p "$HOST" "$TMP/src"
echo from-src >"$TMP/src/f"
ln -s "$HOST" "$IMG/data"
ln -s "../../../../../../../../..$HOST" "$IMG/rel"
ln -s "$HOST" "$IMG/deep/link"
ln -s /tmp "$IMG/scratch"

for dst in /data/newdir /rel/newdir /deep/link/newdir; do
	run_in --rootfs "$IMG" --ro "$TMP/src:$dst" -- /bin/cat "$dst/f"
	is "$(ls -A "$HOST")" "" "--ro SRC:$dst (an image symlink to the host): nothing made on the host"
	like "$RC $OUT" "^125 .*sandbox setup: $dst: No such file" \
		"... the bind fails clearly: the symlink resolves inside the root, where the target is missing"
done
run_in --rootfs "$IMG" --ro "$TMP/src/f:/data/newfile" -- /bin/cat /data/newfile
is "$(ls -A "$HOST") $RC" " 125" "a file bind through the same symlink makes no file on the host"
NEW=t306-$$-newdir
run_in --rootfs "$IMG" --ro "$TMP/src:/scratch/$NEW" -- /bin/cat "/scratch/$NEW/f" "/tmp/$NEW/f"
is "$RC $OUT" "0 from-src
from-src" "a symlink to /tmp is followed inside the root: the bind lands in the sandbox's /tmp"
ok "$([ ! -e "/tmp/$NEW" ]; echo $?)" "... and not in the host's /tmp"
rmdir "/tmp/$NEW" 2>/dev/null

# --workdir: a symlink is refused, never chowned or bound, whatever it points at.
mkdir -p "$TMP/rootdir"
echo keep >"$TMP/rootfile"
ln -s "$TMP/rootdir" "$TMP/wd-dir"
ln -s "$TMP/rootfile" "$TMP/wd-file"
ln -s "$TMP/nonesuch/sub" "$TMP/wd-dangling"
for wd in wd-dir wd-dir/ wd-file wd-dangling; do
	run_in --workdir "$TMP/$wd" -- /bin/sh -c 'echo ran; touch /work/x'
	like "$RC $OUT" "^2 .*--workdir .*$wd: is a symbolic link or not a directory" \
		"--workdir $wd (a symlink) is refused"
done
is "$(stat -c %u:%g "$TMP/rootdir" "$TMP/rootfile" | tr '\n' ' ')$(ls -A "$TMP/rootdir")" "0:0 0:0 " \
	"... the targets keep their owner and nothing was written"
ok "$([ ! -e "$TMP/nonesuch" ]; echo $?)" "... and a dangling symlink's target is not created"
run_in --workdir "$TMP/rootfile" -- /bin/true
like "$RC $OUT" "^2 .*rootfile: is a symbolic link or not a directory" "a --workdir that is a file is refused"
run_in --workdir "$TMP/fresh/wd/" -- /bin/sh -c 'echo hi >f; pwd'
is "$RC $OUT $(stat -c %u "$TMP/fresh/wd")" "0 /work 65534" \
	"a missing --workdir is still created for uid 65534"

# seccomp: io_uring is refused by the filter (setup would return a
# descriptor), and so are the ptrace-like pidfd_getfd and process_madvise
# and vsock sockets (not network-namespaced); without the filter the kernel
# answers EBADF, EINVAL or EAFNOSUPPORT, never EPERM.
run_in -- $PY -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
calls = (("io_uring_setup", (425, 8, params)), ("io_uring_enter", (426, -1, 0, 0, 0, None, 0)),
         ("io_uring_register", (427, -1, 0, None, 0)), ("pidfd_getfd", (438, -1, 0, 0)),
         ("process_madvise", (440, -1, None, 0, 0, 0)))
for name, args in calls:
    r = libc.syscall(*args)
    print(name, r, os.strerror(ctypes.get_errno()) if r < 0 else "fd")
import socket
try:
    socket.socket(40, socket.SOCK_STREAM); print("socket(AF_VSOCK) fd")
except OSError as e:
    print("socket(AF_VSOCK) -1", os.strerror(e.errno))'
is "$OUT" "io_uring_setup -1 Operation not permitted
io_uring_enter -1 Operation not permitted
io_uring_register -1 Operation not permitted
pidfd_getfd -1 Operation not permitted
process_madvise -1 Operation not permitted
socket(AF_VSOCK) -1 Operation not permitted" \
	"io_uring, pidfd_getfd, process_madvise and vsock sockets fail with EPERM"

is "$(grep -Ec -- "$SANITIZER_RE" "$TMP/all.err")" "0" "no sanitizer report"
done_testing
