#!/usr/bin/env python3
"""Hostile clients for t/hostile-*.bats.  Every loop is bounded in count
and time; results are printed as lines the bats tests match.

  hostile.py requests SOCK ECHOPORT   send each malformed control request
      on a connection of its own, while a probe times echo round trips on
      ECHOPORT; print "REQ -> FIRST-REPLY-LINE [eof]" per request, then
      "probes=N p99_ms=X".
  hostile.py junk SOCK ECHOPORT N     feed the control socket random bytes
      and a 1 MiB line, and hold N silent (half-open) connections; check
      that control and echo still answer meanwhile; print "random=...
      oversize=... control=... echo=... dropped=N/N".
  hostile.py connloop PORT CONC SECONDS HOLD   CONC clients loop connect,
      echo, close for SECONDS while HOLD connections stay open and echo a
      line every second; print ok=... and any failure by kind.
  hostile.py live PORT N ...          see live() below.
"""
import os
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def ctl_connect(path):
    """Connect, waiting out a full backlog (EAGAIN on a UNIX socket)."""
    for _ in range(500):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            time.sleep(0.01)
    raise SystemExit("%s: backlog full for 5 s" % path)


def send_all(s, data):
    """Send, but let the daemon close early: its reply is still there."""
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def reply_of(s):
    """The reply's first line, and whether the daemon then closed."""
    f = s.makefile("rb")
    first = f.readline()
    while True:
        line = f.readline()
        if line in (b"\n", b""):
            break
    s.settimeout(0.2)
    try:
        closed = s.recv(1) == b""
    except socket.timeout:
        closed = False
    except ConnectionResetError:
        closed = True
    return first.rstrip(b"\n"), closed


def echo_rtt(port):
    t = time.monotonic()
    s = socket.create_connection((HOST, port), timeout=10)
    s.sendall(b"probe\n")
    got = b""
    while len(got) < 6:
        chunk = s.recv(64)
        if not chunk:
            break
        got += chunk
    s.close()
    if got != b"probe\n":
        raise SystemExit("probe got %r" % got)
    return time.monotonic() - t


class Prober(threading.Thread):
    """Echo round trips every 2 ms until stopped; keeps (start, seconds)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.times, self.done = port, [], threading.Event()

    def run(self):
        while not self.done.is_set() and len(self.times) < 100000:
            t = time.monotonic()
            self.times.append((t, echo_rtt(self.port)))
            time.sleep(0.002)

    def stop(self):
        self.done.set()
        self.join(15)


def p99_ms(times):
    t = sorted(times)
    return t[min(len(t) - 1, int(len(t) * 0.99))] * 1000 if t else 0.0


REQUESTS = [
    b"\n", b"\r\n", b"   \n", b"ver\x00sion\n", b"\xff\xfe\xc0\xaf\n",
    b"st\xc3\n", b"frobnicate\n", b"STATUS\n",
    b"set-concurrency echo 99999999999999999999\n",
    b"set-concurrency echo -2\n", b"set-concurrency echo 0x10\n",
    b"set-concurrency echo 1e3\n", b"set-concurrency echo\n",
    b"set-concurrency\n", b"set-concurrency nosuch 5\n",
    b"kill -1\n", b"kill 0\n", b"kill 99999999999999999999\n", b"kill\n",
    b"pause\n", b"resume a b\n", b"shutdown nosuch\n",
    b"shutdown echo later\n", b"status " + b"x " * 20 + b"\n",
    b"A" * 5000 + b"\n", b"B" * (1 << 20),
]


def one_request(path, req):
    """The first reply line, then "eof" if the daemon closed, or "usable"
    if a version request on the same connection still gets ok."""
    s = ctl_connect(path)
    send_all(s, req)
    f = s.makefile("rb")
    first = f.readline().rstrip(b"\n")
    while f.readline() not in (b"\n", b""):
        pass
    try:
        s.sendall(b"version\n")
        after = "usable" if f.readline() == b"ok\n" else "eof"
    except (BrokenPipeError, ConnectionResetError):
        after = "eof"
    s.close()
    return first, after


def requests(path, port):
    """Rounds of every request, each followed by a quiet spell as long,
    until 150 probes fell within rounds, while a probe runs throughout:
    the probes within the rounds against those in the spells between, so
    that a machine loaded by other work loads both alike."""
    probe = Prober(port)
    probe.start()
    rounds = []
    busy = 0
    for r in range(300):
        if busy >= 150:
            break
        t0 = time.monotonic()
        for req in REQUESTS:
            first, after = one_request(path, req)
            if r == 0:
                shown = req if len(req) < 64 else req[:8] + b"...%d" % len(req)
                print("%r -> %s %s" % (shown, first.decode("ascii",
                      "backslashreplace"), after))
        t1 = time.monotonic()
        rounds.append((t0, t1))
        time.sleep(t1 - t0)
        busy += sum(1 for t, _ in list(probe.times) if t0 <= t < t1)
    probe.stop()
    busy = [x for t, x in probe.times if any(a <= t < b for a, b in rounds)]
    quiet = [x for t, x in probe.times if not any(a <= t < b for a, b in rounds)]
    print("probes=%d p99_ms=%.1f quiet_probes=%d quiet_p99_ms=%.1f" % (
        len(busy), p99_ms(busy), len(quiet), p99_ms(quiet)))


def ctl_ok(path):
    s = ctl_connect(path)
    s.sendall(b"version\n")
    first, _ = reply_of(s)
    s.close()
    return first == b"ok"


def junk(path, port, n):
    rnd = []
    for i in range(20):
        s = ctl_connect(path)
        try:
            s.sendall(os.urandom(65536))
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
            rnd.append("ok")
        except (ConnectionResetError, BrokenPipeError):
            rnd.append("reset")
        s.close()
    s = ctl_connect(path)
    send_all(s, b"C" * (1 << 20) + b"\n")
    first, closed = reply_of(s)
    s.close()
    held = [ctl_connect(path) for _ in range(n)]
    for i, h in enumerate(held):
        if i % 2:
            h.sendall(b"status")    # half a request, never ended
    ok_ctl = ctl_ok(path)
    ok_echo = echo_rtt(port) < 5
    dropped = 0
    deadline = time.monotonic() + 15
    for h in held:
        h.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            if h.recv(1) == b"":
                dropped += 1
        except socket.timeout:
            pass
        except ConnectionResetError:
            dropped += 1
        h.close()
    print("random=%s oversize=%s%s control=%s echo=%s dropped=%d/%d" % (
        ",".join(sorted(set(rnd))), first.decode(), " eof" if closed else "",
        ok_ctl, ok_echo, dropped, n))


def connloop(port, conc, seconds, nhold):
    lock = threading.Lock()
    counts = {"ok": 0}
    end = time.monotonic() + seconds

    def count(kind):
        with lock:
            counts[kind] = counts.get(kind, 0) + 1

    def one(i):
        msg = b"round %d\n" % i
        try:
            s = socket.create_connection((HOST, port), timeout=10)
            s.sendall(msg)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            s.close()
            return "ok" if got == msg else "short" if len(got) < len(msg) else "wrong"
        except ConnectionRefusedError:
            return "refused"
        except ConnectionResetError:
            return "reset"
        except OSError:
            return "error"

    def worker(w):
        i = 0
        while time.monotonic() < end and i < 100000:
            count(one(w * 100000 + i))
            i += 1

    def holder():
        socks = [socket.create_connection((HOST, port), timeout=10)
                 for _ in range(nhold)]
        while True:
            last = time.monotonic() >= end
            for s in socks:
                try:
                    s.sendall(b"held\n")
                    got = b""
                    while len(got) < 5:
                        chunk = s.recv(5 - len(got))
                        if not chunk:
                            break
                        got += chunk
                    count("held_ok" if got == b"held\n" else "held_lost")
                except OSError:
                    count("held_lost")
            if last:
                break
            time.sleep(min(1, max(0, end - time.monotonic())))
        for s in socks:
            s.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(conc)]
    threads.append(threading.Thread(target=holder))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())))


def main(argv):
    cmd = argv[1]
    if cmd == "requests":
        requests(argv[2], int(argv[3]))
    elif cmd == "junk":
        junk(argv[2], int(argv[3]), int(argv[4]))
    elif cmd == "connloop":
        connloop(int(argv[2]), int(argv[3]), float(argv[4]), int(argv[5]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
