#!/usr/bin/env python3
"""Hostile clients of the accept path, for t/hostile-accept.bats.  Every
loop is bounded in count and time; results are printed as key=value.

  paccept.py flood PORT N HOLD PID   open N connections at once (without
      waiting for any to be served), keep them HOLD seconds while sampling
      portierd's live children and RSS every 100 ms, then close them all.
      Prints how many connected, how many were served (got "in"), how
      many got bytes but no "in", the most children seen at one sample,
      and the RSS before and at its highest.
  paccept.py emfile PORT N PID LOG   open N echo connections and hold
      them; over 5 s, print portierd's CPU ticks and the number of
      accept-error lines LOG gained; then close all but 50 and print how
      long a new client took to get its echo back.
  paccept.py eof PORT N CONC [SECONDS]   N connections, CONC at once
      (spread evenly over SECONDS, if given), that send nothing and wait
      for the server to close; print how many saw EOF or RST, how many
      got bytes, and the slowest close in ms.
  paccept.py rst PORT N CONC         N connections, CONC at once, each
      reset (RST) by the client right after connecting (every other one
      after sending a line); print how many were made.
  paccept.py served SRC PORT MS      connect from SRC again and again until
      a line comes back, for at most MS ms; print how long it took.
"""
import os
import selectors
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
LINGER0 = struct.pack("ii", 1, 0)


def raise_nofile(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def children(pid):
    """portierd's children that are not zombies."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
    except OSError:
        return 0
    n = 0
    for k in kids:
        try:
            with open("/proc/%s/stat" % k) as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    n += 1
        except OSError:
            pass
    return n


def nb_connect(port, src=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    if src:
        s.bind((src, 0))
    err = s.connect_ex((HOST, port))
    return s, err


def flood(port, n, hold, pid):
    raise_nofile(n)
    sel = selectors.DefaultSelector()
    got = {}
    rss0, rss_max, kids_max = rss_kib(pid), 0, 0
    start = time.monotonic()
    socks = []
    for i in range(n):
        s, _ = nb_connect(port)
        socks.append(s)
        got[s] = b""
        sel.register(s, selectors.EVENT_READ)
        if i % 100 == 99:
            kids_max = max(kids_max, children(pid))
    next_sample = time.monotonic()
    end = start + hold
    while time.monotonic() < end:
        for key, _ in sel.select(0.02):
            s = key.fileobj
            try:
                b = s.recv(64)
            except OSError:
                b = b""
            if b:
                got[s] += b
            else:
                sel.unregister(s)
        if time.monotonic() >= next_sample:
            kids_max = max(kids_max, children(pid))
            rss_max = max(rss_max, rss_kib(pid))
            next_sample += 0.1
    connected = 0
    for s in socks:
        try:
            s.getpeername()
            connected += 1
        except OSError:
            pass
    served = sum(1 for v in got.values() if v.startswith(b"in"))
    stray = sum(1 for v in got.values() if v and not v.startswith(b"in"))
    print("n=%d connected=%d served=%d stray=%d children_max=%d "
          "rss_before=%d rss_max=%d" % (n, connected, served, stray,
                                        kids_max, rss0, rss_max), flush=True)
    for s in socks:
        s.close()


def echo_once(port, timeout):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.sendall(b"again\n")
    b = s.recv(64)
    s.close()
    return b == b"again\n"


def count_lines(path, word):
    with open(path, errors="replace") as f:
        return sum(1 for line in f if word in line)


# emfile's clients kept open: with portierd's own dozen descriptors and the
# control socket's reserve, they fit in 64.
KEEP = 40


def emfile(port, n, pid, log):
    raise_nofile(n)
    socks = []
    for i in range(n):
        s, _ = nb_connect(port)
        socks.append(s)
    time.sleep(1.0)
    t0, l0 = ticks(pid), count_lines(log, "event=accept-error")
    time.sleep(5.0)
    t1, l1 = ticks(pid), count_lines(log, "event=accept-error")
    for s in socks[:-KEEP]:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        s.close()
    start, ok = time.monotonic(), False
    while not ok and time.monotonic() - start < 10:
        try:
            ok = echo_once(port, 10 - (time.monotonic() - start))
        except OSError:
            time.sleep(0.01)
    print("ticks=%d accept_errors=%d served=%d served_ms=%d" % (
        t1 - t0, l1 - l0, ok, (time.monotonic() - start) * 1000),
        flush=True)
    for s in socks[-KEEP:]:
        s.close()


def eof_one(port):
    """Returns (closed, bytes received, ms until closed)."""
    t = time.monotonic()
    s = socket.create_connection((HOST, port), timeout=5)
    data, closed = b"", True
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    except ConnectionResetError:
        pass
    except socket.timeout:
        closed = False
    s.close()
    return closed, len(data), (time.monotonic() - t) * 1000


def parallel(n, conc, fn, seconds=0.0):
    """Run fn n times in conc threads; the i-th run starts no sooner than
    i * seconds / n after the first."""
    import threading
    todo = list(range(n - 1, -1, -1))
    lock = threading.Lock()
    start = time.monotonic()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            wait = start + i * seconds / n - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                r = fn()
                with lock:
                    results.append(r)
            except OSError as e:
                with lock:
                    errors.append(str(e))
    errors, results = [], []
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors, results


def eof(port, n, conc, seconds):
    errors, res = parallel(n, conc, lambda: eof_one(port), seconds)
    print("n=%d eof=%d open=%d bytes=%d errors=%d max_ms=%d" % (
        n, sum(r[0] for r in res), sum(not r[0] for r in res),
        sum(r[1] for r in res), len(errors),
        max([r[2] for r in res] or [0])), flush=True)


def rst_one(port):
    s = socket.create_connection((HOST, port), timeout=5)
    if s.getsockname()[1] % 2:
        s.sendall(b"about to reset\n")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    s.close()
    return 1


def rst(port, n, conc):
    errors, res = parallel(n, conc, lambda: rst_one(port))
    print("n=%d reset=%d errors=%d" % (n, len(res), len(errors)), flush=True)


def served(src, port, ms):
    start = time.monotonic()
    while (time.monotonic() - start) * 1000 < ms:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(max(0.01, ms / 1000 - (time.monotonic() - start)))
        try:
            s.bind((src, 0))
            s.connect((HOST, port))
            b = s.recv(64)
        except OSError:
            b = b""
        s.close()
        if b:
            print("served_ms=%d" % ((time.monotonic() - start) * 1000))
            return
        time.sleep(0.01)
    print("served_ms=never")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "flood":
        flood(int(argv[2]), int(argv[3]), float(argv[4]), int(argv[5]))
    elif cmd == "emfile":
        emfile(int(argv[2]), int(argv[3]), int(argv[4]), argv[5])
    elif cmd == "eof":
        eof(int(argv[2]), int(argv[3]), int(argv[4]),
            float(argv[5]) if len(argv) > 5 else 0.0)
    elif cmd == "rst":
        rst(int(argv[2]), int(argv[3]), int(argv[4]))
    elif cmd == "served":
        served(argv[2], int(argv[3]), float(argv[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
