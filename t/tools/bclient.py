#!/usr/bin/env python3
"""Hostile clients of the built-in services, for t/hostile-builtin.bats and
t/soak/run.  Every loop is bounded in count and time; every result is one
key=value line on stdout.

  bclient.py probe PORT SECONDS [KIND [PID]]   fresh-connection round
      trips of one line to KIND echo (default) or rot13, one every 10 ms,
      until SIGTERM or SECONDS; print "started" once ready for SIGTERM,
      then their count, failures and p50/p99/max in ms; with PID,
      portierd's, also the p99 and max less the time portierd and the
      probe waited for a CPU (own_p99_ms, own_max_ms).
  bclient.py flood PORT SECONDS MAXBYTES  one connection, non-blocking
      sends and no reads until MAXBYTES are sent, SECONDS pass or 2 s pass
      without progress (the kernel stalled it); print what was sent, then
      hold the connection until SIGTERM (120 s at most).
  bclient.py stalled PORT N SECONDS       N connections; print "connected"
      once all are, then each sends until TCP stops it (2 s without
      progress), for at most SECONDS; print how many stalled, then hold
      them until SIGTERM (120 s at most).
  bclient.py halfclose PORT KIND BYTES REPS SEED   REPS times: send BYTES
      of random data in random chunks, SHUT_WR, read to EOF; check what
      came back for KIND echo, rot13 or discard; print ok=/bad=.
  bclient.py giant PORT BYTES             send BYTES without a newline while
      reading, and on after the server's EOF; print what came back, when
      the EOF came and how the connection ended.
  bclient.py stall PORT SECONDS PID       read nothing from chargen for
      SECONDS; print portierd's CPU ticks and RSS meanwhile; then read and
      check 1 MiB of the RFC 864 pattern on the same connection.
  bclient.py oneshot PORT N KIND SECONDS  N connections to time or daytime
      that neither read nor close for SECONDS; then read each and check it.
  bclient.py timeouts PORT NIDLE NTRICKLE SECONDS   NIDLE silent connections
      and NTRICKLE that send a byte every 500 ms; print, per group, the
      earliest and latest seconds from connect to the server's close.
  bclient.py slowloris PORT N GAP SECONDS  N connections sending a byte
      every GAP seconds (no newline); print how many the server cut off
      and the latest cut, in seconds after connect.
"""
import errno
import hashlib
import os
import random
import select
import signal
import socket
import sys
import time

from pclient import rss_kib

HOST = "127.0.0.1"
ROT13 = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")
STOP = False


def on_term(signum, frame):
    global STOP
    STOP = True


def raise_nofile(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(hard, n + 100), hard))


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_stop(limit):
    """Hold on until SIGTERM or limit seconds."""
    end = time.monotonic() + limit
    while not STOP and time.monotonic() < end:
        time.sleep(0.05)


def pct(sorted_ms, p):
    if not sorted_ms:
        return -1.0
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p))]


def run_delay(pid):
    """Nanoseconds the task has waited on a run queue, or 0 if unknown."""
    try:
        with open("/proc/%s/schedstat" % pid) as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def probe(port, seconds, kind="echo", pid=None):
    """Round trips on fresh connections.  With pid, each one's latency is
    also given less the time portierd and the probe spent waiting for a
    CPU meanwhile, which is what other load on the machine adds."""
    msg = b"probe line\n"
    want = msg.translate(ROT13) if kind == "rot13" else msg
    lat, own, failed = [], [], 0
    print("started", flush=True)
    end = time.monotonic() + seconds
    while not STOP and time.monotonic() < end:
        t = time.monotonic()
        d0 = run_delay("self") + (run_delay(pid) if pid else 0)
        got = b""
        try:
            s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(msg)
            while len(got) < len(want):
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
            s.close()
        except OSError:
            pass
        wall = time.monotonic() - t
        waited = (run_delay("self") + (run_delay(pid) if pid else 0) -
                  d0) / 1e9
        if got == want:
            lat.append(wall * 1000)
            own.append(max(0.0, wall - waited) * 1000)
        else:
            failed += 1
        time.sleep(max(0.0, 0.01 - (time.monotonic() - t)))
    lat.sort()
    own.sort()
    print("probes=%d failed=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
          "own_p99_ms=%.2f own_max_ms=%.2f" % (
              len(lat), failed, pct(lat, 0.5), pct(lat, 0.99),
              lat[-1] if lat else -1, pct(own, 0.99),
              own[-1] if own else -1), flush=True)


def flood(port, seconds, maxbytes):
    s = socket.create_connection((HOST, port), timeout=10)
    s.setblocking(False)
    chunk = b"x" * 65536
    sent, start = 0, time.monotonic()
    last = start
    while not STOP and sent < maxbytes and time.monotonic() - start < seconds:
        _, w, _ = select.select([], [s], [], 0.2)
        if w:
            try:
                n = s.send(chunk[:maxbytes - sent])
            except BlockingIOError:
                n = 0
            if n > 0:
                sent += n
                last = time.monotonic()
        if time.monotonic() - last > 2.0:
            break
    print("sent=%d stalled=%d seconds=%.1f" % (
        sent, time.monotonic() - last > 2.0, time.monotonic() - start),
        flush=True)
    wait_stop(120)
    s.close()


def stalled(port, n, seconds):
    raise_nofile(n)
    socks = []
    for _ in range(n):
        # Small buffers on our side: what stalls is portierd's, and the
        # kernel need not move gigabytes first (CI runs other tests).
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        s.settimeout(10)
        s.connect((HOST, port))
        s.setblocking(False)
        socks.append(s)
    print("connected", flush=True)
    chunk = b"s" * 65536
    sent = [0] * n
    last = [time.monotonic()] * n
    stuck = set()
    end = time.monotonic() + seconds
    while len(stuck) < n and time.monotonic() < end:
        now = time.monotonic()
        for i, s in enumerate(socks):
            if i in stuck:
                continue
            try:
                k = s.send(chunk)
            except BlockingIOError:
                k = 0
            if k > 0:
                sent[i] += k
                last[i] = now
            elif now - last[i] > 2.0:
                stuck.add(i)
        time.sleep(0.01)
    print("conns=%d stalled=%d sent_mib=%d" % (
        n, len(stuck), sum(sent) >> 20), flush=True)
    wait_stop(120)
    for s in socks:
        s.close()


def random_chunks(rng, data):
    i = 0
    while i < len(data):
        k = rng.randint(1, 65536)
        yield data[i:i + k]
        i += k


def exchange(port, data, rng):
    """Send data in random chunks while reading, SHUT_WR, read to EOF;
    return what came back and the seconds from SHUT_WR to EOF."""
    s = socket.create_connection((HOST, port), timeout=10)
    s.setblocking(False)
    got = bytearray()
    chunks = random_chunks(rng, data)
    pending, shut_at, eof_at = b"", None, None
    deadline = time.monotonic() + 60
    while eof_at is None and time.monotonic() < deadline:
        if not pending and shut_at is None:
            pending = next(chunks, None)
            if pending is None:
                s.shutdown(socket.SHUT_WR)
                shut_at = time.monotonic()
                pending = b""
        r, w, _ = select.select([s], [s] if pending else [], [], 1.0)
        if w:
            try:
                pending = pending[s.send(pending):]
            except BlockingIOError:
                pass
        if r:
            chunk = s.recv(rng.randint(1, 65536))
            if not chunk:
                eof_at = time.monotonic()
            got += chunk
    s.close()
    return bytes(got), (eof_at - shut_at) if eof_at and shut_at else -1


def halfclose(port, kind, nbytes, reps, seed):
    rng = random.Random(seed)
    ok, bad, slowest = 0, 0, 0.0
    for i in range(reps):
        data = bytearray(rng.randbytes(nbytes))
        # A final line without its newline, as rot13 must still answer it.
        data[-1:] = b"z"
        data = bytes(data)
        got, eof_s = exchange(port, data, rng)
        if kind == "echo":
            good = hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        elif kind == "rot13":
            good = got == data.translate(ROT13)
        else:
            good = got == b""
        good = good and eof_s >= 0
        slowest = max(slowest, eof_s)
        ok += good
        bad += not good
        if not good:
            print("rep=%d bad: got %d bytes of %d, eof after %.3f s" % (
                i, len(got), len(data), eof_s), file=sys.stderr)
    print("ok=%d bad=%d slowest_eof_ms=%d" % (ok, bad, slowest * 1000))


def giant(port, nbytes):
    """Send nbytes of one line while reading; go on after the server's
    EOF, as a hostile client would, until an error or all is sent."""
    s = socket.create_connection((HOST, port), timeout=10)
    s.setblocking(False)
    chunk = b"a" * 65536
    sent, got, end, eof_at = 0, bytearray(), "timeout", -1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sent < nbytes:
        r, w, _ = select.select([] if eof_at >= 0 else [s], [s], [], 1.0)
        try:
            if r:
                c = s.recv(65536)
                if not c:
                    eof_at = sent
                got += c
            if w:
                sent += s.send(chunk[:nbytes - sent])
        except BlockingIOError:
            pass
        except ConnectionResetError:
            end = "reset"
            break
        except BrokenPipeError:
            end = "epipe"
            break
    else:
        end = "all-sent" if sent >= nbytes else end
    s.close()
    print("sent=%d eof_at=%d end=%s reply=%r" % (sent, eof_at, end,
                                                 bytes(got[:200])))


def chargen_expected(nbytes):
    line = bytes(range(32, 127))
    out = bytearray()
    i = 0
    while len(out) < nbytes:
        out += (line[i % 95:] + line[:i % 95])[:72] + b"\r\n"
        i += 1
    return bytes(out[:nbytes])


def read_n(s, n):
    got = bytearray()
    s.settimeout(10)
    try:
        while len(got) < n:
            c = s.recv(min(65536, n - len(got)))
            if not c:
                break
            got += c
    except OSError:
        pass
    return bytes(got)


def stall(port, seconds, pid):
    s = socket.create_connection((HOST, port), timeout=10)
    time.sleep(0.5)
    t0, r0 = cpu_ticks(pid), rss_kib(pid)
    time.sleep(seconds)
    t1, r1 = cpu_ticks(pid), rss_kib(pid)
    print("ticks=%d hz=%d rss_before=%d rss_after=%d" % (
        t1 - t0, os.sysconf("SC_CLK_TCK"), r0, r1), flush=True)
    got = read_n(s, 1 << 20)
    s.close()
    want = chargen_expected(1 << 20)
    good = 0
    while good < len(got) and got[good] == want[good]:
        good += 1
    print("read=%d correct=%d" % (len(got), good))


def oneshot(port, n, kind, seconds):
    raise_nofile(n)
    t0 = time.time()
    socks = [socket.create_connection((HOST, port), timeout=10)
             for _ in range(n)]
    t1 = time.time()
    time.sleep(seconds)
    good = 0
    deadline = time.monotonic() + 10
    for s in socks:
        got = b""
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            while True:
                c = s.recv(256)
                if not c:
                    break
                got += c
        except OSError:
            got = None
        s.close()
        if got is None:
            continue
        if kind == "time":
            v = int.from_bytes(got, "big") if len(got) == 4 else -1
            lo = (int(t0) - 2 + 2208988800) % (1 << 32)
            good += lo <= v <= lo + int(t1) - int(t0) + 4
        else:
            good += (len(got) <= 64 and got.endswith(b"\r\n") and
                     got.count(b"\n") == 1)
    print("conns=%d good=%d" % (n, good))


def watch_close(socks, starts, deadline, on_tick=None):
    """Wait until every socket sees EOF or a reset; return the seconds from
    each one's connect to that (None if it never came)."""
    closed = [None] * len(socks)
    fdmap = {s.fileno(): i for i, s in enumerate(socks)}
    poll = select.poll()
    for s in socks:
        poll.register(s, select.POLLIN)
    left = len(socks)
    while left and time.monotonic() < deadline:
        for fd, _ in poll.poll(50):
            i = fdmap[fd]
            try:
                c = socks[i].recv(4096)
            except OSError:
                c = b""
            if not c:
                closed[i] = time.monotonic() - starts[i]
                poll.unregister(fd)
                left -= 1
        if on_tick:
            on_tick(closed)
    return closed


def span(values):
    got = [v for v in values if v is not None]
    if not got:
        return "closed=0 first=-1 last=-1"
    return "closed=%d first=%.2f last=%.2f" % (len(got), min(got), max(got))


def timeouts(port, nidle, ntrickle, seconds):
    raise_nofile(nidle + ntrickle)
    socks, starts = [], []
    for _ in range(nidle + ntrickle):
        starts.append(time.monotonic())
        socks.append(socket.create_connection((HOST, port), timeout=10))
    nxt = [time.monotonic()] * ntrickle

    def trickle(closed):
        now = time.monotonic()
        for k in range(ntrickle):
            i = nidle + k
            if closed[i] is None and now >= nxt[k]:
                try:
                    socks[i].send(b"t")
                except OSError:
                    pass
                nxt[k] = now + 0.5
    closed = watch_close(socks, starts, time.monotonic() + seconds, trickle)
    print("idle_%s trickle_%s" % (span(closed[:nidle]),
                                   span(closed[nidle:])))
    for s in socks:
        s.close()


def slowloris(port, n, gap, seconds):
    raise_nofile(n)
    socks, starts = [], []
    for _ in range(n):
        starts.append(time.monotonic())
        s = socket.create_connection((HOST, port), timeout=10)
        socks.append(s)
    nxt = [time.monotonic() + random.uniform(0, gap) for _ in range(n)]

    def drip(closed):
        now = time.monotonic()
        for i in range(n):
            if closed[i] is None and now >= nxt[i]:
                try:
                    socks[i].send(b"s")
                except OSError:
                    pass
                nxt[i] = now + gap
    closed = watch_close(socks, starts, time.monotonic() + seconds, drip)
    print(span(closed))
    for s in socks:
        s.close()


def main(argv):
    signal.signal(signal.SIGTERM, on_term)
    cmd, port, a = argv[1], int(argv[2]), argv[3:]
    if cmd == "probe":
        probe(port, float(a[0]), *a[1:])
    elif cmd == "flood":
        flood(port, float(a[0]), int(a[1]))
    elif cmd == "stalled":
        stalled(port, int(a[0]), float(a[1]))
    elif cmd == "halfclose":
        halfclose(port, a[0], int(a[1]), int(a[2]), int(a[3]))
    elif cmd == "giant":
        giant(port, int(a[0]))
    elif cmd == "stall":
        stall(port, float(a[0]), int(a[1]))
    elif cmd == "oneshot":
        oneshot(port, int(a[0]), a[1], float(a[2]))
    elif cmd == "timeouts":
        timeouts(port, int(a[0]), int(a[1]), float(a[2]))
    elif cmd == "slowloris":
        slowloris(port, int(a[0]), float(a[1]), float(a[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
