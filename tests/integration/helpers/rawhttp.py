#!/usr/bin/python3
"""Raw HTTP for tests that curl cannot express.

  rawhttp.py send HOST PORT REQUEST      send REQUEST (Python escapes such as
                                         \\r\\n and \\xff allowed) and print the reply
  rawhttp.py slow HOST PORT N SECS [SRC] open N connections (from source address
                                         SRC) that send a partial request head, one
                                         byte every 0.1 s, for SECS seconds; print how
                                         many the server closed at once (early: the
                                         per-address cap), later (late: the head
                                         deadline) or never (open)
"""
import socket
import sys
import time


def send(host, port, req):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(req.encode('latin1').decode('unicode_escape').encode('latin1'))
    out = b''
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    sys.stdout.write(out.decode('latin1'))


def slow(host, port, n, secs, src=None):
    conns, refused = [], 0
    for _ in range(n):
        try:
            s = socket.socket()
            if src:
                s.bind((src, 0))
            s.settimeout(2)
            s.connect((host, port))
            s.sendall(b'GET /api/v1/health HTTP/1.1\r\n')
            conns.append((s, time.time()))
        except OSError:
            refused += 1
    closed = {}
    end = time.time() + secs
    while time.time() < end and len(closed) < len(conns):
        for i, (s, t0) in enumerate(conns):
            if i in closed:
                continue
            try:
                s.sendall(b'X')
                s.settimeout(0.01)
                if s.recv(1) == b'':
                    closed[i] = time.time() - t0
            except socket.timeout:
                pass
            except OSError:
                closed[i] = time.time() - t0
        time.sleep(0.1)
    early = sum(1 for t in closed.values() if t < 1.0)
    late = len(closed) - early
    print(f'opened={len(conns)} early={early} late={late} open={len(conns) - len(closed)} '
          f'refused={refused}')


if __name__ == '__main__':
    if sys.argv[1] == 'send':
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == 'slow':
        slow(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]),
             sys.argv[6] if len(sys.argv) > 6 else None)
