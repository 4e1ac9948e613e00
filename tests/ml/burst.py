"""Engine protocol checks from several clients at once (t404).

Usage: /usr/bin/python3 tests/ml/burst.py PORT ROWS.csv REF.txt
  ROWS.csv: header + rows; REF.txt: the engine's reply per row, scored
  one at a time. Opens 4 connections that each send every row (with bad
  lines at known places) in one pipelined burst, plus one that sends half
  a burst and resets the connection; checks that each connection gets one
  reply per line, in order, byte for byte equal to REF, and
  error lines where the bad lines were. Prints "ok" or the first problem.
"""
import socket
import struct
import sys
import threading

BAD = [b"", b"1,2", b"abc," * 7 + b"x", b"nan," * 7 + b"1", b"1e999," * 7 + b"1"]


def read_lines(sock, n):
    buf = b""
    out = []
    while len(out) < n:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        out.extend(lines)
    return out


def client(port, rows, ref, k, results):
    lines, want = [], []
    for i, r in enumerate(rows):
        if i % 97 == k:
            bad = BAD[(i // 97) % len(BAD)]
            lines.append(bad)
            want.append(None)
        lines.append(r)
        want.append(ref[i])
    s = socket.create_connection(("127.0.0.1", port))
    payload = b"\n".join(lines) + b"\n"
    t = threading.Thread(target=s.sendall, args=(payload,))
    t.start()
    got = read_lines(s, len(lines))
    t.join()
    s.close()
    if len(got) != len(want):
        results[k] = "client %d: %d replies for %d lines" % (k, len(got), len(want))
        return
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None:
            if not g.startswith(b"error,"):
                results[k] = "client %d line %d: want an error, got %r" % (k, i, g)
                return
            continue
        # every row goes through the same per-sample kernel, batched or
        # alone: the reply is the same bytes
        if g != w:
            results[k] = "client %d line %d: got %r want %r" % (k, i, g, w)
            return
    results[k] = "ok"


def rude(port, rows):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\n".join(rows[: len(rows) // 2]) + b"\n")
    s.recv(100)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # reset with replies still pending


def main():
    port = int(sys.argv[1])
    rows = open(sys.argv[2], "rb").read().split(b"\n")[1:]
    rows = [r for r in rows if r]
    ref = [l for l in open(sys.argv[3], "rb").read().split(b"\n") if l]
    assert len(ref) == len(rows), (len(ref), len(rows))
    results = {}
    threads = [threading.Thread(target=client, args=(port, rows, ref, k, results)) for k in range(4)]
    threads.append(threading.Thread(target=rude, args=(port, rows)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [v for v in results.values() if v != "ok"]
    print(bad[0] if bad else "ok")


if __name__ == "__main__":
    main()
