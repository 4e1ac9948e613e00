#!/usr/bin/python3
"""A small upstream for t208 (dataset import): serves files of a directory,
and /redirect?to=URL (302), /missing (404), /stream?n=BYTES (a body with no
Content-Length, closed at its end). Prints its port on the first line."""
import http.server
import os
import sys
import urllib.parse


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", q["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif u.path == "/missing":
            self.send_error(404)
        elif u.path == "/stream":
            self.close_connection = True
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            n = int(q["n"][0])
            while n > 0:
                k = min(n, 65536)
                self.wfile.write(b"x" * k)
                n -= k
        else:
            super().do_GET()


os.chdir(sys.argv[1])
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(srv.server_address[1], flush=True)
srv.serve_forever()
