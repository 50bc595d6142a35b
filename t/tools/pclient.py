#!/usr/bin/env python3
"""Test clients for cases socat cannot express.  Every loop is bounded in
count and time; every result is printed as key=value for the bats tests.

  pclient.py flood PORT PID [SECONDS [HOLD]]   send without reading until
      TCP stalls (or SECONDS pass); print bytes sent, portierd's RSS
      before and after, and an echo probe's worst round trip meanwhile;
      then keep the connection open, still not reading, HOLD seconds.
  pclient.py hold PORT N                open N connections at once, then
      on each send a line and check it comes back; print how many did.
  pclient.py hold-open PORT N SECONDS PID   open N connections and hold
      them SECONDS; print portierd's CPU ticks meanwhile.
  pclient.py loop PORT N CONC           N echo round trips, CONC at once;
      print ok=... and any failures by kind.
  pclient.py reset PORT                 connect, send, and reset (RST).
  pclient.py chargen PORT BYTES         read BYTES and check the RFC 864
      pattern; print the number of correct bytes.
  pclient.py stall PORT SECONDS         connect, read nothing for SECONDS,
      then read and check 1 MiB of chargen.
"""
import os
import resource
import select
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for pid %d" % pid)


def connect(port):
    s = socket.create_connection((HOST, port), timeout=10)
    return s


def probe(port):
    """One echo round trip on a fresh connection; returns seconds."""
    t = time.monotonic()
    s = connect(port)
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


def flood(port, pid, seconds=10.0, hold=0.0):
    before = rss_kib(pid)
    s = connect(port)
    s.setblocking(False)
    chunk = b"x" * 65536
    sent, last_progress, start = 0, time.monotonic(), time.monotonic()
    worst, next_probe = 0.0, start
    while time.monotonic() - start < seconds and sent < 1 << 30:
        _, w, _ = select.select([], [s], [], 0.2)
        if w:
            try:
                n = s.send(chunk)
            except BlockingIOError:
                n = 0
            if n > 0:
                sent += n
                last_progress = time.monotonic()
        if time.monotonic() - last_progress > 1.0:
            break
        if time.monotonic() >= next_probe:
            worst = max(worst, probe(port))
            next_probe = time.monotonic() + 0.5
    worst = max(worst, probe(port))
    after = rss_kib(pid)
    print("sent=%d stalled=%d rss_before=%d rss_after=%d probe_max_ms=%d" % (
        sent, time.monotonic() - last_progress > 1.0, before, after,
        worst * 1000), flush=True)
    time.sleep(hold)
    s.close()


def hold(port, n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
    socks = []
    for i in range(n):
        socks.append(connect(port))
    ok = 0
    deadline = time.monotonic() + 60
    for i, s in enumerate(socks):
        msg = b"ping %d\n" % i
        s.sendall(msg)
    for i, s in enumerate(socks):
        msg = b"ping %d\n" % i
        got = b""
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            while len(got) < len(msg):
                chunk = s.recv(len(msg) - len(got))
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        ok += got == msg
    print("held=%d echoed=%d" % (len(socks), ok))
    for s in socks:
        s.close()


def hold_open(port, n, seconds, pid):
    """Open n connections without waiting for answers, keep them for
    seconds, and print portierd's CPU ticks over that time."""
    def ticks():
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    socks = []
    for i in range(n):
        try:
            socks.append(socket.create_connection((HOST, port), timeout=2))
        except OSError:
            break
    time.sleep(0.5)
    before = ticks()
    time.sleep(seconds)
    print("opened=%d cpu_ticks=%d" % (len(socks), ticks() - before))
    for s in socks:
        s.close()


def loop(port, n, conc):
    """n echo round trips over fresh connections, conc at a time; print
    how many got their full, correct answer and how each failure went."""
    import threading
    lock = threading.Lock()
    counts = {"ok": 0}
    todo = list(range(n))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
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
                kind = "ok" if got == msg else "short" if len(got) < len(msg) else "wrong"
            except ConnectionRefusedError:
                kind = "refused"
            except ConnectionResetError:
                kind = "reset"
            except OSError:
                kind = "error"
            with lock:
                counts[kind] = counts.get(kind, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())))


def reset(port):
    s = connect(port)
    s.sendall(b"about to reset\n")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("reset=1")


def chargen_expected(nbytes):
    lines, i = [], 0
    while sum(map(len, lines)) < nbytes:
        lines.append(bytes(32 + (i + c) % 95 for c in range(72)) + b"\r\n")
        i += 1
    return b"".join(lines)[:nbytes]


def chargen(port, nbytes, s=None):
    s = s or connect(port)
    s.settimeout(10)
    got = bytearray()
    while len(got) < nbytes:
        chunk = s.recv(min(65536, nbytes - len(got)))
        if not chunk:
            break
        got += chunk
    s.close()
    want = chargen_expected(nbytes)
    good = 0
    while good < len(got) and got[good] == want[good]:
        good += 1
    print("read=%d correct=%d" % (len(got), good))


def stall(port, seconds):
    s = connect(port)
    time.sleep(seconds)
    chargen(port, 1 << 20, s)


def main(argv):
    cmd, port = argv[1], int(argv[2])
    if cmd == "flood":
        flood(port, int(argv[3]), float(argv[4]) if len(argv) > 4 else 10.0,
              float(argv[5]) if len(argv) > 5 else 0.0)
    elif cmd == "hold":
        hold(port, int(argv[3]))
    elif cmd == "hold-open":
        hold_open(port, int(argv[3]), float(argv[4]), int(argv[5]))
    elif cmd == "loop":
        loop(port, int(argv[3]), int(argv[4]))
    elif cmd == "reset":
        reset(port)
    elif cmd == "chargen":
        chargen(port, int(argv[3]))
    elif cmd == "stall":
        stall(port, float(argv[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
