#!/usr/bin/env bash
# sandbox run: isolation seen from inside — network, filesystem, privileges,
# seccomp, PID namespace, environment, binds.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (namespaces, cgroups)"; exit 0; }
PY=/usr/bin/python3

# run_in [flags...] -- CMD...: runs CMD in the sandbox; OUT = stdout+stderr, RC.
run_in() {
	OUT=$("$SENTINEL_BIN" sandbox run "$@" 2>&1)
	RC=$?
	printf '%s\n' "$OUT" >>"$TMP/all.err"
}

WORK=$TMP/work
mkdir -p "$WORK"
chown 65534:65534 "$WORK"
echo topsecret >"$TMP/hidden"

# Network: the host's 127.0.0.1 is not reachable; the sandbox's own lo is up.
$PY -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(30)' >"$TMP/port" &
LISTENER=$!
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")
ok "$($PY -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 2)" 2>/dev/null; echo $?)" \
	"the host listener on 127.0.0.1:$PORT is reachable from the host"
run_in -- $PY -c "
import socket
try:
    socket.create_connection(('127.0.0.1', $PORT), 2); print('connected')
except OSError as e:
    print('refused', e.errno)"
like "$OUT" "^refused" "from inside, connecting to the host's 127.0.0.1:$PORT fails"
kill $LISTENER 2>/dev/null
run_in -- $PY -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
c = socket.create_connection(s.getsockname(), 2); print("lo ok")'
is "$OUT" "lo ok" "the sandbox has its own working loopback"
run_in -- $PY -c 'import socket; print(sorted(n for _, n in socket.if_nameindex()))'
is "$OUT" "['lo']" "... and no other interface"

# Filesystem: only what is bound is visible.
run_in -- /bin/sh -c 'ls -d /root /etc/shadow /home 2>&1; echo; ls /'
unlike "$OUT" "^/root|^/etc/shadow|^/home" "/root, /etc/shadow and /home are invisible"
run_in -- /bin/sh -c "cat '$TMP/hidden' 2>&1; ls '$TMP' 2>&1"
unlike "$OUT" "topsecret" "the test's own temp files are invisible"
like "$OUT" "No such file" "... not found at all"
run_in --workdir "$WORK" -- /bin/sh -c 'for f in /x /usr/x /etc/x /proc/x /dev/x; do
	if (echo > $f) 2>/dev/null; then echo "wrote $f"; fi; done
	echo a > /work/a && echo b > /tmp/b && echo wrote-work-tmp; pwd'
is "$OUT" "wrote-work-tmp
/work" "writing outside /work and /tmp fails; /work (the cwd) and /tmp are writable"
is "$(cat "$WORK/a")" "a" "... and /work is the host's work directory"
run_in --workdir "$TMP/fresh/wd" -- /bin/sh -c 'echo made > made && pwd'
is "$OUT $(cat "$TMP/fresh/wd/made" 2>&1) $(stat -c %u "$TMP/fresh/wd")" "/work made 65534" \
	"a --workdir that does not exist is created for the job's uid"
run_in -- /bin/sh -c 'touch /tmp/x && ls -ld /tmp | cut -c1-10'
is "$OUT" "drwxrwxrwt" "/tmp is a private sticky tmpfs"

# Privileges: uid, capabilities, no_new_privs, setuid binaries.
run_in -- /bin/sh -c 'id -u; id -g; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\t" " "'
is "$OUT" "65534
65534
CapEff: 0000000000000000
CapBnd: 0000000000000000
NoNewPrivs: 1
Seccomp: 2" "runs as 65534 with no capabilities, no_new_privs and a seccomp filter"
cp /usr/bin/id "$WORK/suid-id"
chown 0:0 "$WORK/suid-id"
chmod 4755 "$WORK/suid-id"
run_in --workdir "$WORK" -- /work/suid-id -u
is "$OUT" "65534" "a setuid-root copy of id still reports the unprivileged uid"

# Seccomp: mount, ptrace, unshare fail with EPERM (not by lack of privilege
# alone: EPERM is also what the filter returns to root).
run_in -- $PY -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def err(r):
    return "ok" if r == 0 else os.strerror(ctypes.get_errno())
print("mount", err(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)))
print("ptrace", err(libc.ptrace(0, 0, None, None)))
print("unshare", err(libc.unshare(0x10000000)))
print("setns", err(libc.setns(0, 0)))
print("bpf", err(libc.syscall(321, 0, None, 0)))'
is "$OUT" "mount Operation not permitted
ptrace Operation not permitted
unshare Operation not permitted
setns Operation not permitted
bpf Operation not permitted" "mount, ptrace, unshare, setns and bpf fail with EPERM"

# A foreign syscall ABI (x32: the syscall number with bit 30 set) is refused
# with EPERM by the filter (the host kernel answers -ENOSYS or the call).
if [ "$(uname -m)" = x86_64 ]; then
run_in -- $PY -c '
import ctypes, mmap
code = b"\xb8\x27\x00\x00\x40\x0f\x05\xc3"  # mov eax, 0x40000027 (x32 getpid); syscall; ret
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(code)
print(ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))())'
is "$OUT" "-1" "an x32-ABI syscall fails with EPERM"
else
	ok 0 "# SKIP the x32 check is for x86_64"
fi

# PID namespace: ps sees only the job's processes.
run_in -- /bin/sh -c 'sleep 5 & ps -e -o pid=,comm='
like "$OUT" "^ *1 sentinel" "the sandbox's init is PID 1"
is "$(printf '%s\n' "$OUT" | awk '{print $2}' | sort | tr '\n' ' ')" "ps sentinel sh sleep " \
	"ps sees only the job's own processes"
run_in -- /bin/sh -c 'sleep 100 & exit 3'
is "$RC" "3" "when the job exits its background processes do not hold the run"

# stdin is /dev/null; nothing of the supervisor's descriptors leaks in.
run_in -- /bin/sh -c 'cat; echo "cat $?"; ls /proc/self/fd | tr "\n" " "'
is "$OUT" "cat 0
0 1 2 3 " "stdin is /dev/null, and the job holds only stdio (3: ls's own directory)"

# The init (a copy of the supervisor) does not show the supervisor's argv.
run_in --env TOKEN=s3cr3t-marker -- /bin/sh -c 'tr "\0" " " </proc/1/cmdline'
unlike "$OUT" "s3cr3t-marker|--env" "/proc/1/cmdline does not reveal the supervisor's arguments"

# UTS, IPC, environment.
run_in -- /bin/sh -c 'hostname; ls /dev | tr "\n" " "'
is "$OUT" "sentinel
fd full null random shm stderr stdin stdout urandom zero " "own hostname and a minimal /dev"
export HOST_SECRET=leak
run_in --env FOO=bar --env LANG=C -- /usr/bin/env
is "$(printf '%s\n' "$OUT" | sort | tr '\n' ' ')" \
	"FOO=bar HOME=/tmp LANG=C PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin USER=sandbox " \
	"the environment is the base plus --env, nothing of the host's"
run_in -- $PY -c 'import sys; print(sys.executable)'
is "$OUT" "/usr/bin/python3" "the host runtime gives Debian's /usr/bin/python3"

# Binds.
mkdir -p "$TMP/ro" "$TMP/rw"
echo data >"$TMP/ro/f"
chown 65534 "$TMP/rw"
run_in --ro "$TMP/ro:/data/in" --rw "$TMP/rw:/data/out" -- /bin/sh -c \
	'cat /data/in/f; (echo x > /data/in/g) 2>/dev/null && echo wrote-ro; echo y > /data/out/h && echo wrote-rw'
is "$OUT" "data
wrote-rw" "--ro binds are read-only, --rw binds writable"
is "$(cat "$TMP/rw/h")" "y" "... and --rw writes reach the host"
run_in --ro "$TMP/ro:/proc/x" -- /bin/true
like "$RC $OUT" "^2 .*outside /proc" "a bind into /proc is refused"

# Not root: a user namespace maps the job's uid to the caller's; cgroups
# are out of reach, so the limits fall back to rlimits and say so.
if command -v setpriv >/dev/null && [ "$(cat /proc/sys/user/max_user_namespaces)" -gt 0 ]; then
	UDIR=$(mktemp -d /tmp/sentinel-userns.XXXXXX)
	chmod 755 "$UDIR"
	cp "$SENTINEL_BIN" "$UDIR/sentinel"
	OUT=$(cd "$UDIR" && setpriv --reuid=4242 --regid=4242 --clear-groups "$UDIR/sentinel" sandbox run \
		--mem 64M --pids 64 --json -- /bin/sh -c 'id -u; grep ^CapEff /proc/self/status' 2>&1)
	printf '%s\n' "$OUT" >>"$TMP/all.err"
	like "$OUT" "^65534
CapEff:.0000000000000000" "as an unprivileged user: runs in a user namespace as 65534, no capabilities"
	like "$OUT" '"degraded":\["memory","pids"\]' "... with memory and pids reported as degraded"
	rm -rf "$UDIR"
else
	ok 0 "# SKIP no setpriv or no user namespaces"
	ok 0 "# SKIP no setpriv or no user namespaces"
fi

is "$(grep -Ec -- "$SANITIZER_RE" "$TMP/all.err")" "0" "no sanitizer report"
done_testing
