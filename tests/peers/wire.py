"""What the fakes in tests/peers share: an HTTP/1.1 request handler that reads plain and
chunked bodies and answers, cut short when a fault asks for it, and a byte pipe for proxies."""

import re
import socket
import time
from http.server import BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY the body waits for the
    # client's delayed ACK (about 40 ms a request), which would swamp --latency.
    disable_nagle_algorithm = True
    content_type = "application/json"

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, body=b"", headers=None, ctype=None, truncate=False):
        """Answers `status` with `body`; `truncate` promises more than it sends, then closes."""
        self.send_response(status)
        self.send_header("Content-Type", ctype or self.content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) + (len(body) // 2 + 10 if truncate else 0)))
        self.end_headers()
        try:
            self.wfile.write(body[: len(body) // 2] if truncate else body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped reading (a body over its limit) and closed the connection.
            truncate = True
        if truncate:
            self.close_connection = True

    def send_chunks(self, status, chunks, ctype=None):
        """Answers `status` with the bytes of `chunks` in chunked transfer encoding, each sent as
        it is made: an answer of any size, never whole in memory."""
        self.send_response(status)
        self.send_header("Content-Type", ctype or self.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def wait_or_close(self, fault, latency):
        """Waits the fake's latency and the fault's `delay`; `True` if the fault then asks to
        close the connection without an answer, which is done."""
        if latency > 0:
            time.sleep(latency)
        if fault and fault.get("delay"):
            time.sleep(fault["delay"])
        if fault and fault.get("close"):
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        return False


def take_fault(faults, path, **match):
    """The first queued fault with count left whose `path` regex finds `path` and whose other
    fields (method, action) equal `match`'s, its count taken one down. Call under the lock."""
    fault = next((f for f in faults if f["count"] > 0 and re.search(f.get("path", ""), path)
                  and all(f.get(k, v) == v for k, v in match.items())), None)
    if fault:
        fault["count"] -= 1
    return fault


def pipe(src, dst, seen=None):
    """Copies what `src` sends to `dst` until either side closes, then shuts both down;
    `seen(n)` hears of every n bytes copied."""
    try:
        while data := src.recv(65536):
            if seen:
                seen(len(data))
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
