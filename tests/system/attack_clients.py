"""Misbehaving clients for the under-attack system tests: many sockets from several loopback
addresses (the whole of 127.0.0.0/8 is loopback on Linux), driven from one thread with a
selector. Every loop here is bounded by a deadline and stops by itself."""

import resource
import selectors
import socket
import time

ATTACK_ADDRESSES = [f"127.0.0.{i}" for i in range(2, 10)]  # 8 addresses
FRESH_ADDRESS = "127.0.0.20"  # a client that is not part of any attack


def raise_nofile(need):
    """Lets this process (and the onestopd it starts) hold `need` descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connect_from(address, port, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((address, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


class SlowHeaders:
    """n connections spread over ATTACK_ADDRESSES, each sending a request line and then one
    header line every `interval` seconds, never finishing; a connection the server closes is
    opened again, as an attacker would. Call pump() in a loop; close() when done."""

    def __init__(self, port, n, interval=1.0):
        self.port = port
        self.n = n
        self.interval = interval
        self.socks = [None] * n
        self.reconnects = 0

    def _open(self, i):
        try:
            s = connect_from(ATTACK_ADDRESSES[i % len(ATTACK_ADDRESSES)], self.port, timeout=2)
            s.sendall(b"POST /api/v1/sessions HTTP/1.1\r\nHost: onestop\r\n")
            s.setblocking(False)
            self.socks[i] = s
        except OSError:
            self.socks[i] = None

    def open_all(self):
        for i in range(self.n):
            self._open(i)
        return sum(1 for s in self.socks if s is not None)

    def pump(self):
        """One round: a header line on every connection, reopening closed ones."""
        for i, s in enumerate(self.socks):
            if s is not None:
                try:
                    s.send(b"X-Slow: a\r\n")
                    continue
                except BlockingIOError:
                    continue
                except OSError:
                    s.close()
            self.reconnects += 1
            self._open(i)

    def close(self):
        for s in self.socks:
            if s is not None:
                s.close()
        self.socks = [None] * self.n


def big_bodies(port, n, body_bytes, headers, path="/api/v1/quotes", deadline_s=60.0):
    """n concurrent requests from ATTACK_ADDRESSES, each declaring and sending a body of
    body_bytes. Returns a dict status -> count (0 for connections closed without a reply)."""
    sel = selectors.DefaultSelector()
    head = (f"POST {path} HTTP/1.1\r\nHost: onestop\r\nContent-Type: application/json\r\n"
            f"Content-Length: {body_bytes}\r\n" +
            "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    chunk = b"x" * 65536
    states = []
    for i in range(n):
        s = connect_from(ATTACK_ADDRESSES[i % len(ATTACK_ADDRESSES)], port, timeout=5)
        s.setblocking(False)
        st = {"sock": s, "out": head, "left": body_bytes, "in": b"", "status": None}
        states.append(st)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
    open_count = n
    end = time.monotonic() + deadline_s
    while open_count and time.monotonic() < end:
        for key, events in sel.select(timeout=0.5):
            st = key.data
            s = st["sock"]
            done = False
            if events & selectors.EVENT_READ:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                st["in"] += data
                if not data or b"\r\n\r\n" in st["in"]:
                    if b" " in st["in"]:
                        st["status"] = int(st["in"].split(b" ", 2)[1])
                    done = True
            if not done and events & selectors.EVENT_WRITE:
                try:
                    if st["out"]:
                        sent = s.send(st["out"])
                        st["out"] = st["out"][sent:]
                    elif st["left"] > 0:
                        sent = s.send(chunk[:min(len(chunk), st["left"])])
                        st["left"] -= sent
                    else:
                        sel.modify(s, selectors.EVENT_READ, st)
                except BlockingIOError:
                    pass
                except OSError:
                    sel.modify(s, selectors.EVENT_READ, st)
            if done:
                sel.unregister(s)
                s.close()
                open_count -= 1
    counts = {}
    for st in states:
        if st["sock"].fileno() != -1:
            sel.unregister(st["sock"])
            st["sock"].close()
        counts[st["status"] or 0] = counts.get(st["status"] or 0, 0) + 1
    sel.close()
    return counts


def memory_kib(pid):
    """(VmRSS, VmHWM) of a process in KiB, from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0])
    return out["VmRSS"], out["VmHWM"]
