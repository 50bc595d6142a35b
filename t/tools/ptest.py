#!/usr/bin/env python3
"""The clients and probes of portier's tests, in one module (stdlib only).

    python3 t/tools/ptest.py SUBCOMMAND ARGS...

`ptest.py -h` lists the subcommands and `ptest.py SUBCOMMAND -h` tells what
one does; the functions may be imported (readers of /proc, connect, the
echo prober, the control client).  Every loop is bounded in count and in
time; every result is printed as key=value words, or as lines the bats
tests match, and a subcommand exits non-zero only when it could not do its
work (what it found is for the test to judge).
"""
import argparse
import bisect
import codecs
import collections
import datetime
import fcntl
import hashlib
import inspect
import json
import os
import random
import re
import resource
import select
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time

HOST = "127.0.0.1"
LINGER0 = struct.pack("ii", 1, 0)
ROT13 = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")
STOPPED = [False]       # set by SIGTERM, for the subcommands that hold on


# --- Readers of a process, from /proc ---------------------------------

def proc_stat(pid):
    """The fields of /proc/PID/stat after the command, which may hold
    spaces and parentheses: [state, ppid, ...]."""
    with open("/proc/%s/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_ticks(pid):
    """The CPU time, user and system, pid has used so far, in clock ticks
    (os.sysconf("SC_CLK_TCK") a second)."""
    fields = proc_stat(pid)
    return int(fields[11]) + int(fields[12])


def rss_kib(pid, key="VmRSS:"):
    """pid's resident set size in KiB (its peak with key "VmHWM:")."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise SystemExit("no %s for pid %d" % (key, pid))


def run_delay(pid):
    """Nanoseconds pid ("self" too) has waited on a run queue, or 0."""
    try:
        with open("/proc/%s/schedstat" % pid) as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def exited(pid):
    """Whether pid has exited (a zombie counts as exited)."""
    try:
        return proc_stat(pid)[0] == "Z"
    except OSError:
        return True


def live_children(pid):
    """The number of pid's children that are not zombies."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
    except OSError:
        return 0
    n = 0
    for k in kids:
        try:
            n += proc_stat(k)[0] != "Z"
        except OSError:
            pass
    return n


def zombie_children(pid):
    """The number of pid's children that are zombies."""
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = proc_stat(d)
        except OSError:
            continue
        n += fields[0] == "Z" and int(fields[1]) == pid
    return n


# --- Sockets -----------------------------------------------------------

def raise_nofile(n):
    """Let this process hold n sockets and some to spare."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))


def connect(port, src=None, timeout=10, bufsize=None):
    """A TCP connection to 127.0.0.1:port, from address src if given, with
    send and receive buffers of bufsize if given."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if bufsize:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bufsize)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bufsize)
        if src:
            s.bind((src, 0))
        s.settimeout(timeout)
        s.connect((HOST, port))
    except OSError:
        s.close()
        raise
    return s


def nb_connect(port, src=None):
    """A non-blocking connect to 127.0.0.1:port, not waited for."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    if src:
        s.bind((src, 0))
    s.connect_ex((HOST, port))
    return s


def recv_n(s, n, timeout=10):
    """Up to n bytes from s, fewer if it ends or times out first."""
    got = bytearray()
    s.settimeout(timeout)
    try:
        while len(got) < n:
            c = s.recv(min(65536, n - len(got)))
            if not c:
                break
            got += c
    except OSError:
        pass
    return bytes(got)


def recv_to_eof(s):
    """Everything s sends until its EOF (its timeout raises)."""
    got = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return got
        got += chunk


def unread(s):
    """The bytes waiting to be read on s."""
    buf = fcntl.ioctl(s.fileno(), termios.FIONREAD, struct.pack("i", 0))
    return struct.unpack("i", buf)[0]


def closed_by_peer(s):
    """Whether the server closes s (EOF or reset) before sending a byte."""
    try:
        return s.recv(16) == b""
    except ConnectionResetError:
        return True


def reset(s):
    """Close s with a reset (RST) rather than a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    s.close()


def parallel(n, conc, fn, seconds=0.0):
    """Run fn(i) for i in 0..n-1 in conc threads, the i-th no sooner than
    i * seconds / n after the first; return (errors, results)."""
    todo = list(range(n - 1, -1, -1))
    lock = threading.Lock()
    errors, results = [], []
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
                r = fn(i)
                with lock:
                    results.append(r)
            except OSError as e:
                with lock:
                    errors.append(str(e))
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors, results


def counts_line(counts):
    """A dict of counts as sorted key=value words."""
    return " ".join("%s=%d" % kv for kv in sorted(counts.items()))


def hold_until(seconds):
    """Wait until SIGTERM or seconds pass."""
    end = time.monotonic() + seconds
    while not STOPPED[0] and time.monotonic() < end:
        time.sleep(0.05)


# --- The echo round trip and its prober --------------------------------

def echo_round(port, msg, timeout=10):
    """Send msg on a fresh connection, half-close, read to EOF: "ok" if msg
    came back, else "short", "wrong", "refused", "reset" or "error"."""
    try:
        s = connect(port, timeout=timeout)
        s.sendall(msg)
        s.shutdown(socket.SHUT_WR)
        got = recv_to_eof(s)
        s.close()
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    except OSError:
        return "error"
    return "ok" if got == msg else "short" if len(got) < len(msg) else "wrong"


def echo_ask(port, msg=b"probe\n", want=None, timeout=5):
    """One round trip of msg on a fresh connection, not half-closed:
    whether want (msg by default) came back."""
    want = msg if want is None else want
    got = b""
    try:
        s = connect(port, timeout=timeout)
        s.sendall(msg)
        while len(got) < len(want):
            chunk = s.recv(64)
            if not chunk:
                break
            got += chunk
        s.close()
    except OSError:
        return False
    return got == want


class Prober(threading.Thread):
    """Echo round trips on fresh connections every interval seconds until
    stopped (100,000 at most).  Each is kept as (start, seconds, own
    seconds, ok), own being less the time portierd (pid, if given) and the
    prober waited for a CPU meanwhile, which is what other load adds."""

    def __init__(self, port, interval, kind="echo", pid=None):
        super().__init__(daemon=True)
        self.port, self.interval, self.pid = port, interval, pid
        self.msg = b"probe line\n"
        self.want = self.msg.translate(ROT13) if kind == "rot13" else self.msg
        self.times, self.done = [], threading.Event()

    def waits(self):
        return run_delay("self") + (run_delay(self.pid) if self.pid else 0)

    def run(self):
        while not self.done.is_set() and len(self.times) < 100000:
            t, d0 = time.monotonic(), self.waits()
            ok = echo_ask(self.port, self.msg, self.want)
            wall = time.monotonic() - t
            waited = (self.waits() - d0) / 1e9
            self.times.append((t, wall, max(0.0, wall - waited), ok))
            self.done.wait(max(0.0, self.interval - wall))

    def stop(self):
        self.done.set()
        self.join(15)

    def failures(self):
        return sum(1 for x in self.times if not x[3])


def pct(values, p):
    """The p-quantile of values, or -1 if there are none."""
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))] if v else -1.0


# --- Built-in services: what they send ---------------------------------

def chargen_expected(nbytes):
    """The first nbytes of the RFC 864 pattern."""
    line = bytes(range(32, 127))
    out = bytearray()
    i = 0
    while len(out) < nbytes:
        out += (line[i % 95:] + line[:i % 95])[:72] + b"\r\n"
        i += 1
    return bytes(out[:nbytes])


def chargen_check(got, nbytes):
    """The line saying how much of got is the pattern."""
    want = chargen_expected(nbytes)
    good = 0
    while good < len(got) and got[good] == want[good]:
        good += 1
    return "read=%d correct=%d" % (len(got), good)


# --- The subcommands ---------------------------------------------------

COMMANDS = {}


def command(name, summary, *args, on_term=False):
    """Register fn as subcommand name, summed up in the list as summary,
    with argparse arguments args, each (flags, keywords); its own help is
    fn's docstring.  With on_term, SIGTERM ends what it holds rather than
    the process."""
    def register(fn):
        COMMANDS[name] = (fn, summary, args, on_term)
        return fn
    return register


def arg(*flags, **kw):
    return (flags, kw)


PORT = arg("port", type=int, help="a port of 127.0.0.1")
PID = arg("--pid", type=int, help="portierd's pid")
SOCK = arg("sock", help="the control socket")


@command("echo", "echo round trips, -n in all or for --seconds", PORT,
         arg("-n", type=int, help="round trips in all"),
         arg("-c", type=int, default=1, help="at once (default 1)"),
         arg("--seconds", type=float, help="loop for this long"),
         arg("--hold", type=int, default=0,
             help="connections held meanwhile, each echoing a line a second"))
def cmd_echo(a):
    """Echo round trips on fresh connections, -c at once, -n in all or for
    --seconds: send a line, half-close, read to EOF.  Print ok=N and any
    failure by kind, and with --hold held_ok= and held_lost=."""
    if a.n is None and a.seconds is None:
        raise SystemExit("echo: give -n or --seconds")
    if a.hold and a.seconds is None:
        raise SystemExit("echo: --hold needs --seconds")
    lock = threading.Lock()
    counts = {"ok": 0}
    end = time.monotonic() + a.seconds if a.seconds is not None else None
    taken = [0]

    def count(kind):
        with lock:
            counts[kind] = counts.get(kind, 0) + 1

    def worker(w):
        for i in range(100000):
            if end is not None and time.monotonic() >= end:
                return
            with lock:
                if a.n is not None and taken[0] >= a.n:
                    return
                k = taken[0]
                taken[0] += 1
            count(echo_round(a.port, b"round %d\n" % k))

    def holder():
        socks = [connect(a.port) for _ in range(a.hold)]
        while True:
            last = time.monotonic() >= end
            for s in socks:
                try:
                    s.sendall(b"held\n")
                    count("held_ok" if recv_n(s, 5) == b"held\n"
                          else "held_lost")
                except OSError:
                    count("held_lost")
            if last:
                break
            time.sleep(min(1, max(0, end - time.monotonic())))
        for s in socks:
            s.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(a.c)]
    if a.hold:
        threads.append(threading.Thread(target=holder))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(counts_line(counts))


@command("hold", "keep n connections open",
         PORT, arg("n", type=int, help="connections"),
         arg("--echo", action="store_true",
             help="then send a line on each and read it back"),
         arg("--seconds", type=float, default=0, help="then hold them"))
def cmd_hold(a):
    """Open n connections at once (up to the first that fails), without
    waiting for any answer; with --echo send a line on each and read it
    back (60 s for all); with --seconds keep them that long (from 0.5 s
    after the last).  Print held=N and echoed=N."""
    raise_nofile(a.n)
    socks = []
    for _ in range(a.n):
        try:
            socks.append(connect(a.port))
        except OSError:
            break
    out = "held=%d" % len(socks)
    if a.echo:
        for i, s in enumerate(socks):
            s.sendall(b"ping %d\n" % i)
        ok, deadline = 0, time.monotonic() + 60
        for i, s in enumerate(socks):
            msg = b"ping %d\n" % i
            ok += recv_n(s, len(msg),
                         max(0.1, deadline - time.monotonic())) == msg
        out += " echoed=%d" % ok
    if a.seconds:
        time.sleep(0.5 + a.seconds)
    print(out, flush=True)
    for s in socks:
        s.close()


@command("flood", "n connections at once, watching children and RSS",
         PORT, arg("n", type=int, help="connections"),
         arg("--hold", type=float, required=True, help="seconds"),
         arg("--pid", type=int, required=True, help="portierd's pid"))
def cmd_flood(a):
    """Open n connections at once, without waiting for any to be served,
    and keep them --hold seconds while sampling portierd's live children
    and RSS every 100 ms; then close them all.  Print how many connected,
    how many were served (got "in"), how many got bytes but no "in", the
    most children seen at once, and the RSS before and at its highest."""
    raise_nofile(a.n)
    sel = selectors.DefaultSelector()
    got, socks = {}, []
    rss0, rss_max, kids_max = rss_kib(a.pid), 0, 0
    start = time.monotonic()
    for i in range(a.n):
        s = nb_connect(a.port)
        socks.append(s)
        got[s] = b""
        sel.register(s, selectors.EVENT_READ)
        if i % 100 == 99:
            kids_max = max(kids_max, live_children(a.pid))
    next_sample, end = time.monotonic(), start + a.hold
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
            kids_max = max(kids_max, live_children(a.pid))
            rss_max = max(rss_max, rss_kib(a.pid))
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
          "rss_before=%d rss_max=%d" % (a.n, connected, served, stray,
                                        kids_max, rss0, rss_max), flush=True)
    for s in socks:
        s.close()


@command("connect", "n connections at once, then what each got",
         PORT, arg("-n", type=int, default=1, help="connections"),
         arg("--src", help="source address"))
def cmd_connect(a):
    """Open -n connections one after another, as fast as the kernel takes
    them, then read each to its EOF (5 s at most) and print the first line
    it got, one a line (an empty line for one closed unanswered)."""
    raise_nofile(a.n)
    socks = [connect(a.port, a.src, timeout=5) for _ in range(a.n)]
    for s in socks:
        try:
            got = recv_to_eof(s)
        except OSError:
            got = b""
        s.close()
        print(got.split(b"\n")[0].rstrip(b"\r").decode(errors="replace"))


@command("reset", "connections reset (RST) by the client",
         PORT, arg("-n", type=int, default=1, help="connections"),
         arg("-c", type=int, default=1, help="at once"),
         arg("--half-silent", action="store_true",
             help="those from an even port reset without sending"))
def cmd_reset(a):
    """Connect -n times, -c at once, send a line and reset (RST) each at
    once; print how many were reset."""
    def one(i):
        s = connect(a.port, timeout=5)
        if not a.half_silent or s.getsockname()[1] % 2:
            s.sendall(b"about to reset\n")
        reset(s)
        return 1
    errors, res = parallel(a.n, a.c, one)
    print("n=%d reset=%d errors=%d" % (a.n, len(res), len(errors)),
          flush=True)


@command("eof", "connections that send nothing and wait for the close",
         PORT, arg("n", type=int, help="connections"),
         arg("-c", type=int, default=1, help="at once"),
         arg("--spread", type=float, default=0.0,
             help="start them evenly over this many seconds"))
def cmd_eof(a):
    """n connections, -c at once, that send nothing and wait (5 s at most)
    for the server to close; print how many saw EOF or RST, how many
    bytes came, and the ms from connect to close (p50, p90, max)."""
    def one(i):
        t = time.monotonic()
        s = connect(a.port, timeout=5)
        data, closed = b"", True
        try:
            data = recv_to_eof(s)
        except ConnectionResetError:
            pass
        except socket.timeout:
            closed = False
        s.close()
        return closed, len(data), (time.monotonic() - t) * 1000
    errors, res = parallel(a.n, a.c, one, a.spread)
    ms = [r[2] for r in res]
    print("n=%d eof=%d open=%d bytes=%d errors=%d p50_ms=%d p90_ms=%d "
          "max_ms=%d" % (a.n, sum(r[0] for r in res),
                         sum(not r[0] for r in res), sum(r[1] for r in res),
                         len(errors), pct(ms, 0.5), pct(ms, 0.9),
                         max(ms or [0])), flush=True)


@command("served", "connect from --src until served",
         PORT, arg("--src", required=True, help="source address"),
         arg("--seconds", type=float, required=True, help="how long to try"))
def cmd_served(a):
    """Connect from --src again and again until a line comes back, for at
    most --seconds; print served_ms=N, how long it took, or
    served_ms=never."""
    start = time.monotonic()
    while time.monotonic() - start < a.seconds:
        left = max(0.01, a.seconds - (time.monotonic() - start))
        try:
            s = connect(a.port, a.src, timeout=left)
            b = s.recv(64)
            s.close()
        except OSError:
            b = b""
        if b:
            print("served_ms=%d" % ((time.monotonic() - start) * 1000))
            return
        time.sleep(0.01)
    print("served_ms=never")


def log_events(path, pattern, offset=0):
    """The lines of portierd's log from byte offset on that match the
    regular expression pattern, and the events they stand for: one each,
    and the ones each says it held back (suppressed=N); and the offset
    the log ends at."""
    lines = events = 0
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    for line in data.decode(errors="replace").splitlines():
        if re.search(pattern, line):
            lines += 1
            held = field(line, "suppressed")
            events += 1 + (int(held) if held else 0)
    return lines, events, offset + len(data)


@command("log-rate", "how often log lines came, and what they stand for",
         arg("log"), arg("pattern", help="a regular expression"))
def cmd_log_rate(a):
    """Of the lines of portierd's LOG matching PATTERN, print how many
    there are, the events they stand for (one each, and the ones each
    says it held back, suppressed=N), and the ms from the first to the
    last."""
    lines, events, _ = log_events(a.log, a.pattern)
    with open(a.log, errors="replace") as f:
        ts = [log_time(x) for x in f if re.search(a.pattern, x)]
    print("lines=%d events=%d span_ms=%d" % (
        lines, events, (ts[-1] - ts[0]) * 1000 if ts else 0))


# emfile's clients kept open: with portierd's own dozen descriptors and the
# control socket's reserve, they fit in 64.
EMFILE_KEEP = 40


@command("emfile", "hold portierd at EMFILE, then free it",
         PORT, arg("n", type=int, help="connections"),
         arg("--log", required=True, help="portierd's log"))
def cmd_emfile(a):
    """Open n echo connections and hold them; over 5 s, from 1 s on, count
    the accept-error lines portierd's log gains and the failed accepts
    they stand for (with the ones each says it held back); then close all
    but 40 and see whether a new client gets its echo back (10 s at
    most).  Print window_ms=, accept_error_lines=, accept_errors=,
    served= and served_ms=."""
    raise_nofile(a.n)
    socks = [nb_connect(a.port) for _ in range(a.n)]
    time.sleep(1.0)
    _, _, offset = log_events(a.log, "^$")
    t0 = time.monotonic()
    time.sleep(5.0)
    lines, events, _ = log_events(a.log, " event=accept-error ", offset)
    window = time.monotonic() - t0
    for s in socks[:-EMFILE_KEEP]:
        reset(s)
    start, ok = time.monotonic(), False
    while not ok and time.monotonic() - start < 10:
        ok = echo_ask(a.port, b"again\n",
                      timeout=10 - (time.monotonic() - start))
        if not ok:
            time.sleep(0.01)
    print("window_ms=%d accept_error_lines=%d accept_errors=%d served=%d "
          "served_ms=%d" % (window * 1000, lines, events, ok,
                            (time.monotonic() - start) * 1000), flush=True)
    for s in socks[-EMFILE_KEEP:]:
        s.close()


@command("send", "send without reading until TCP stalls",
         PORT, arg("-n", type=int, default=1, help="connections"),
         arg("--seconds", type=float, default=10.0,
             help="send for at most this long (default 10)"),
         arg("--max-bytes", type=int, default=1 << 30,
             help="on each connection (default 1 GiB)"),
         arg("--bufsize", type=int, help="our socket buffers, in bytes"),
         PID,
         arg("--probe", action="store_true",
             help="echo round trips on PORT every 0.5 s meanwhile"),
         arg("--hold", type=float, default=0.0,
             help="then hold them, reading nothing, until SIGTERM or this"),
         on_term=True)
def cmd_send(a):
    """Open -n connections, print "connected", then on each send without
    ever reading until TCP stops it (2 s without progress), --max-bytes
    are sent or --seconds pass.  Print how many stalled and the bytes
    sent; with --pid portierd's RSS before and after; with --probe the
    number of probes, which fail the command if one is not echoed."""
    raise_nofile(a.n)
    socks = [connect(a.port, bufsize=a.bufsize) for _ in range(a.n)]
    for s in socks:
        s.setblocking(False)
    print("connected", flush=True)
    rss0 = rss_kib(a.pid) if a.pid else 0
    prober = Prober(a.port, 0.5) if a.probe else None
    if prober:
        prober.start()
    chunk = b"x" * 65536
    start = time.monotonic()
    sent, last = [0] * a.n, [start] * a.n
    fdmap = {s.fileno(): i for i, s in enumerate(socks)}
    poll = select.poll()
    for s in socks:
        poll.register(s, select.POLLOUT)
    live = set(range(a.n))
    stuck = 0
    while (live and not STOPPED[0] and
           time.monotonic() - start < a.seconds):
        for fd, _ in poll.poll(200):
            i = fdmap[fd]
            try:
                k = socks[i].send(chunk[:a.max_bytes - sent[i]])
            except BlockingIOError:
                k = 0
            if k > 0:
                sent[i] += k
                last[i] = time.monotonic()
            if sent[i] >= a.max_bytes:
                live.discard(i)
                poll.unregister(fd)
        now = time.monotonic()
        for i in [i for i in live if now - last[i] > 2.0]:
            live.discard(i)
            poll.unregister(socks[i].fileno())
            stuck += 1
    out = "conns=%d stalled=%d sent=%d seconds=%.1f" % (
        a.n, stuck, sum(sent), time.monotonic() - start)
    if a.pid:
        out += " rss_before=%d rss_after=%d" % (rss0, rss_kib(a.pid))
    failed = 0
    if prober:
        prober.stop()
        failed = prober.failures() + (not echo_ask(a.port))
        out += " probes=%d probe_failures=%d" % (len(prober.times) + 1,
                                                 failed)
    print(out, flush=True)
    hold_until(a.hold)
    for s in socks:
        s.close()
    if failed:
        sys.exit(1)


class Refused:
    """One client of the refused subcommand: it sends quota bytes (None:
    until the server cuts it off) and reads what comes back meanwhile."""

    def __init__(self, s, quota):
        self.s, self.quota = s, quota
        self.sent, self.got = 0, bytearray()
        self.eof = self.cut = False

    def sending(self):
        return not self.cut and (self.quota is None or self.sent < self.quota)

    def settled(self):
        return (self.eof or self.cut) and not self.sending()

    def readable(self):
        """Read what came: bytes, the server's EOF, or its reset."""
        try:
            c = self.s.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.cut = True
            return
        if c:
            self.got += c
        else:
            self.eof = True

    def writable(self, chunk):
        """Send the next chunk, or learn that the server cut us off."""
        if self.quota is not None:
            chunk = chunk[:self.quota - self.sent]
        try:
            self.sent += self.s.send(chunk)
        except BlockingIOError:
            pass
        except OSError:
            self.cut = True


@command("refused", "send to a refusing service, read its message",
         PORT, arg("-n", type=int, default=1, help="clients at once"),
         arg("--send", type=int, default=0,
             help="bytes each sends without waiting to read"),
         arg("--forever", action="store_true",
             help="each sends until the server cuts it off"),
         arg("--want", required=True,
             help="the message, with backslash escapes (busy\\n)"),
         arg("--seconds", type=float, default=20,
             help="give up on those not settled by then"),
         arg("--hold", type=float, default=0,
             help="then keep the connections open, until SIGTERM"),
         on_term=True)
def cmd_refused(a):
    """Open -n connections, and on each send --send bytes (or, with
    --forever, send until the server resets or breaks the connection)
    while reading what comes back, until each has sent its bytes and seen
    the server's EOF or reset, for at most --seconds.  Print n=, told=
    (those that got exactly --want, then EOF), eof=, cut= (reset or broken
    by the server), sent= (bytes, all together) and seconds= (until the
    last settled); then hold the connections --hold seconds, never
    closing them first."""
    raise_nofile(a.n)
    want = codecs.escape_decode(a.want.encode())[0]
    clients = [Refused(connect(a.port, timeout=5),
                       None if a.forever else a.send) for _ in range(a.n)]
    for c in clients:
        c.s.setblocking(False)
    chunk = b"x" * 65536
    start = time.monotonic()
    live = list(clients)
    while live and not STOPPED[0] and time.monotonic() - start < a.seconds:
        poll, fdmap = select.poll(), {}
        for c in live:
            fdmap[c.s.fileno()] = c
            poll.register(c.s, (select.POLLIN if not c.eof else 0) |
                          (select.POLLOUT if c.sending() else 0))
        for fd, ev in poll.poll(100):
            c = fdmap[fd]
            if ev & (select.POLLIN | select.POLLERR | select.POLLHUP):
                c.readable()
            if ev & select.POLLOUT and c.sending():
                c.writable(chunk)
        live = [c for c in live if not c.settled()]
    print("n=%d told=%d eof=%d cut=%d sent=%d seconds=%.2f" % (
        a.n, sum(c.eof and bytes(c.got) == want for c in clients),
        sum(c.eof for c in clients), sum(c.cut for c in clients),
        sum(c.sent for c in clients), time.monotonic() - start), flush=True)
    hold_until(a.hold)
    for c in clients:
        c.s.close()


@command("stall", "read nothing from chargen, then check it",
         PORT, arg("seconds", type=float, help="read nothing"),
         PID, arg("--trace", help="with --pid: strace portierd over "
                  "SECONDS into this file"))
def cmd_stall(a):
    """Connect to chargen and read nothing for SECONDS; with --pid, once
    the kernel's buffers are full (what waits for us stops growing, 10 s
    at most), print portierd's RSS over SECONDS from then and how long
    that was, and with --trace the system calls it made meanwhile
    (calls=N); then read 1 MiB on the same connection and print how much
    is the RFC 864 pattern."""
    s = connect(a.port)
    if a.pid:
        filled, last, end = 0, -1, time.monotonic() + 10
        while filled < 3 and time.monotonic() < end:
            time.sleep(0.05)
            n = unread(s)
            filled, last = (filled + 1 if n == last else 0), n
        tracer = None
        if a.trace:
            tracer = subprocess.Popen(["strace", "-qq", "-o", a.trace,
                                       "-p", str(a.pid)])
            time.sleep(0.5)         # attached
        t, r0 = time.monotonic(), rss_kib(a.pid)
        time.sleep(a.seconds)
        r1 = rss_kib(a.pid)
        calls = ""
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=10)
            with open(a.trace) as f:
                calls = " calls=%d" % sum(1 for ln in f if ln.strip())
        print("window_ms=%d rss_before=%d rss_after=%d%s" % (
            (time.monotonic() - t) * 1000, r0, r1, calls), flush=True)
    else:
        time.sleep(a.seconds)
    got = recv_n(s, 1 << 20)
    s.close()
    print(chargen_check(got, 1 << 20))


@command("chargen", "read and check chargen's pattern",
         PORT, arg("bytes", type=int))
def cmd_chargen(a):
    """Read BYTES from chargen; print how many of them are the RFC 864
    pattern."""
    s = connect(a.port)
    got = recv_n(s, a.bytes)
    s.close()
    print(chargen_check(got, a.bytes))


@command("probe", "echo round trips every 10 ms, timed",
         PORT, arg("seconds", type=float, help="at most"),
         arg("--kind", choices=("echo", "rot13"), default="echo"), PID,
         on_term=True)
def cmd_probe(a):
    """Round trips of one line on fresh connections to echo or rot13, one
    every 10 ms, until SIGTERM or SECONDS; print "started" once ready
    for SIGTERM, then their count, failures and p50/p99/max in ms, and
    with --pid the p99 and max less the time portierd and the probe
    waited for a CPU (own_p99_ms, own_max_ms)."""
    p = Prober(a.port, 0.01, a.kind, a.pid)
    print("started", flush=True)
    p.start()
    hold_until(a.seconds)
    p.stop()
    lat = [x[1] * 1000 for x in p.times if x[3]]
    own = [x[2] * 1000 for x in p.times if x[3]]
    print("probes=%d failed=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
          "own_p99_ms=%.2f own_max_ms=%.2f" % (
              len(lat), p.failures(), pct(lat, 0.5), pct(lat, 0.99),
              max(lat or [-1]), pct(own, 0.99), max(own or [-1])),
          flush=True)


def random_chunks(rng, data):
    i = 0
    while i < len(data):
        k = rng.randint(1, 65536)
        yield data[i:i + k]
        i += k


def exchange(port, data, rng):
    """Send data in random chunks while reading in random sizes, SHUT_WR,
    read to EOF; return what came back and the seconds from SHUT_WR to
    EOF (-1 if it never came, within 60 s)."""
    s = connect(port)
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


@command("halfclose", "random data, half-close, check the answer", PORT,
         arg("kind", choices=("echo", "rot13", "discard")),
         arg("bytes", type=int), arg("reps", type=int), arg("seed", type=int))
def cmd_halfclose(a):
    """REPS times: send BYTES of random data (the last line without its
    newline) in random chunks, SHUT_WR, read to EOF; check what came
    back for echo, rot13 or discard; print ok=, bad= and the slowest EOF
    after the half-close."""
    rng = random.Random(a.seed)
    ok, bad, slowest = 0, 0, 0.0
    for i in range(a.reps):
        data = bytearray(rng.randbytes(a.bytes))
        data[-1:] = b"z"
        data = bytes(data)
        got, eof_s = exchange(a.port, data, rng)
        if a.kind == "echo":
            good = (hashlib.sha256(got).digest() ==
                    hashlib.sha256(data).digest())
        elif a.kind == "rot13":
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


@command("giant", "one endless line", PORT, arg("bytes", type=int))
def cmd_giant(a):
    """Send BYTES of one line while reading, and go on after the server's
    EOF, as a hostile client would, until an error or all is sent (30 s
    at most); print what came back, when the EOF came and how the
    connection ended."""
    s = connect(a.port)
    s.setblocking(False)
    chunk = b"a" * 65536
    sent, got, end, eof_at = 0, bytearray(), "timeout", -1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sent < a.bytes:
        r, w, _ = select.select([] if eof_at >= 0 else [s], [s], [], 1.0)
        try:
            if r:
                c = s.recv(65536)
                if not c:
                    eof_at = sent
                got += c
            if w:
                sent += s.send(chunk[:a.bytes - sent])
        except BlockingIOError:
            pass
        except ConnectionResetError:
            end = "reset"
            break
        except BrokenPipeError:
            end = "epipe"
            break
    else:
        end = "all-sent" if sent >= a.bytes else end
    s.close()
    print("sent=%d eof_at=%d end=%s reply=%r" % (sent, eof_at, end,
                                                 bytes(got[:200])))


@command("oneshot", "time or daytime clients that never read",
         PORT, arg("n", type=int, help="connections"),
         arg("kind", choices=("time", "daytime")),
         arg("seconds", type=float, help="before reading"))
def cmd_oneshot(a):
    """n connections to time or daytime that neither read nor close for
    SECONDS; then read each to EOF and check it; print conns= good=."""
    raise_nofile(a.n)
    t0 = time.time()
    socks = [connect(a.port) for _ in range(a.n)]
    t1 = time.time()
    time.sleep(a.seconds)
    good, deadline = 0, time.monotonic() + 10
    for s in socks:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got = recv_to_eof(s)
        except OSError:
            got = None
        s.close()
        if got is None:
            continue
        if a.kind == "time":
            v = int.from_bytes(got, "big") if len(got) == 4 else -1
            lo = (int(t0) - 2 + 2208988800) % (1 << 32)
            good += lo <= v <= lo + int(t1) - int(t0) + 4
        else:
            good += (len(got) <= 64 and got.endswith(b"\r\n") and
                     got.count(b"\n") == 1)
    print("conns=%d good=%d" % (a.n, good))


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


def span(values, prefix=""):
    """How many closed, and the earliest and latest, as key=value, each key
    after prefix."""
    got = [v for v in values if v is not None]
    return "%sclosed=%d %sfirst=%.2f %slast=%.2f" % (
        prefix, len(got), prefix, min(got or [-1]), prefix, max(got or [-1]))


def dripping(port, n, gap, seconds, first_gap=None):
    """n connections, each sending a byte every gap seconds (its first
    after first_gap(i) seconds) until the server closes it or seconds
    pass; return the seconds from each connect to its close."""
    socks, starts = [], []
    for _ in range(n):
        starts.append(time.monotonic())
        socks.append(connect(port))
    now = time.monotonic()
    nxt = [now + (first_gap(i) if first_gap else 0) for i in range(n)]

    def drip(closed):
        t = time.monotonic()
        for i in range(n):
            if closed[i] is None and t >= nxt[i]:
                try:
                    socks[i].send(b"t")
                except OSError:
                    pass
                nxt[i] = t + gap
    closed = watch_close(socks, starts, time.monotonic() + seconds, drip)
    for s in socks:
        s.close()
    return closed


@command("timeouts", "idle and trickling connections, timed to their close",
         PORT, arg("nidle", type=int), arg("ntrickle", type=int),
         arg("seconds", type=float, help="at most"))
def cmd_timeouts(a):
    """NIDLE silent connections and NTRICKLE that send a byte every 500 ms;
    print, per group, how many the server closed and the earliest and
    latest seconds from connect to close."""
    raise_nofile(a.nidle + a.ntrickle)
    socks, starts = [], []
    for _ in range(a.nidle + a.ntrickle):
        starts.append(time.monotonic())
        socks.append(connect(a.port))
    nxt = [time.monotonic()] * a.ntrickle

    def trickle(closed):
        now = time.monotonic()
        for k in range(a.ntrickle):
            i = a.nidle + k
            if closed[i] is None and now >= nxt[k]:
                try:
                    socks[i].send(b"t")
                except OSError:
                    pass
                nxt[k] = now + 0.5
    closed = watch_close(socks, starts, time.monotonic() + a.seconds, trickle)
    print(span(closed[:a.nidle], "idle_"),
          span(closed[a.nidle:], "trickle_"))
    for s in socks:
        s.close()


@command("slowloris", "connections dripping a byte every GAP s",
         PORT, arg("n", type=int), arg("gap", type=float),
         arg("seconds", type=float, help="at most"))
def cmd_slowloris(a):
    """n connections each sending a byte every GAP seconds (the first at a
    random moment within GAP), never a newline; print how many the
    server cut off and the earliest and latest cut, in seconds after
    connect."""
    raise_nofile(a.n)
    closed = dripping(a.port, a.n, a.gap, a.seconds,
                      lambda i: random.uniform(0, a.gap))
    print(span(closed))


@command("sources", "connect from many 127.x.y.z sources (commands on stdin)",
         PORT)
def cmd_sources(a):
    """A client of the echo service on PORT that connects from 127.x.y.z
    source addresses, reading commands on stdin, one a line:
      hold SRC...     connect from each SRC and keep it if it is echoed
      refused SRC...  connect from each SRC; count it if it is closed
                      unserved
      twice SRC...    from each SRC, one served and a second refused at once
      close           close every connection held
      port P          use port P from now on
    and print "served=N refused=M" at the end.  Every socket operation
    times out after 5 s."""
    port, held, served, refused = a.port, [], 0, 0

    def conn(src):
        return connect(port, src, timeout=5)

    def echoed(s):
        s.sendall(b"hi\n")
        return s.makefile("rb").readline() == b"hi\n"
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "port":
            port = int(args[0])
            continue
        for src in args:
            if cmd == "hold":
                s = conn(src)
                served += echoed(s)
                held.append(s)
            elif cmd == "refused":
                s = conn(src)
                refused += closed_by_peer(s)
                s.close()
            elif cmd == "twice":
                s = conn(src)
                served += echoed(s)
                b = conn(src)
                refused += closed_by_peer(b)
                b.close()
                s.close()
        if cmd == "close":
            for s in held:
                s.close()
            held = []
    print("served=%d refused=%d" % (served, refused))


def fnv1a(bs):
    h = 2166136261
    for b in bs:
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h


@command("fnv-sources", "sources that shared a chain of the old unkeyed hash",
         arg("n", type=int))
def cmd_fnv_sources(a):
    """Print n addresses 127.x.y.z whose 16-byte source key the source
    table hashed, before it had a key, with FNV-1a into its bucket 0 of
    1024: (h ^ AF_INET) % 1024 == 0.  Past x and y only the low 10 bits of
    h matter, and the 13 multiplications by the FNV prime are invertible
    modulo 1024, so z is solved for."""
    u = 2 * pow(pow(16777619, 13, 1024), -1, 1024) % 1024
    out = []
    for x in range(256):
        for y in range(256):
            z = (u ^ fnv1a((127, x, y))) & 1023
            if 0 < z < 255 and len(out) < a.n:
                assert (fnv1a([127, x, y, z] + [0] * 12) ^ 2) % 1024 == 0
                out.append("127.%d.%d.%d" % (x, y, z))
    print(" ".join(out))


# --- Handlers: zombies, reaping, what they inherit ----------------------

@command("zombies", "sample a process's zombie children",
         arg("pid", type=int), arg("stopfile"),
         arg("--seconds", type=float, default=100, help="at most"))
def cmd_zombies(a):
    """Count pid's zombie children every 20 ms until STOPFILE exists
    (--seconds at most); print samples=, max= and last=."""
    samples, most, last = 0, 0, 0
    end = time.monotonic() + a.seconds
    while time.monotonic() < end and not os.path.exists(a.stopfile):
        last = zombie_children(a.pid)
        most = max(most, last)
        samples += 1
        time.sleep(0.02)
    print("samples=%d max=%d last=%d" % (samples, most, last))


def log_time(line):
    """A log line's ts= as epoch seconds."""
    ts = line.split(" ", 1)[0][len("ts="):]
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def field(line, key):
    """The value of key= in a log line, or None."""
    for word in line.split():
        if word.startswith(key + "="):
            return word[len(key) + 1:]
    return None


@command("reap-latency", "from the log, stamped handlers' exit to end line",
         arg("log"), arg("service"),
         arg("--after", type=int, default=0,
             help="only connection ids above this"))
def cmd_reap_latency(a):
    """From portierd's log, for each stamped handler of SERVICE (its stderr
    line is its last act's time, in epoch seconds), the gap to the end line
    of its connection, in ms, and the handlers portierd started meanwhile
    (spawn lines after the stamp and before that end line, of any
    service): print n=, p50=, p99=, max= of the first, and spawns_p50=,
    spawns_p99=, spawns_max= of the second."""
    stamp, gaps, between = {}, [], []
    times, spawned = [], [0]
    with open(a.log) as f:
        for line in f:
            if not line.startswith("ts="):
                continue
            times.append(log_time(line))
            spawned.append(spawned[-1] + (" event=spawn " in line))
            if " service=%s " % a.service not in line:
                continue
            conn = field(line, "conn")
            if conn is None or int(conn) <= a.after:
                continue
            if " event=stderr " in line:
                stamp[conn] = float(field(line, "line").strip('"'))
            elif " event=end " in line and conn in stamp:
                t = stamp.pop(conn)
                gaps.append(times[-1] - t)
                # The log's stamps are in ms: from the first line of the
                # stamp's ms on.
                first = bisect.bisect_left(times, int(t * 1000) / 1000)
                between.append(spawned[-1] - spawned[first])
    if not gaps:
        raise SystemExit("reap-latency: no stamped connection of %s" %
                         a.service)
    ms = [g * 1000 for g in gaps]
    print("n=%d p50=%.1f p99=%.1f max=%.1f unmatched=%d spawns_p50=%d "
          "spawns_p99=%d spawns_max=%d" % (
              len(ms), pct(ms, 0.5), pct(ms, 0.99), max(ms), len(stamp),
              pct(between, 0.5), pct(between, 0.99), max(between)))


@command("sigdirty", "exec with every signal ignored and blocked",
         arg("argv", nargs=argparse.REMAINDER))
def cmd_sigdirty(a):
    """Exec ARGV with every signal that can be ignored ignored, and every
    one that can be blocked blocked."""
    for sig in range(1, signal.NSIG):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_BLOCK, range(1, signal.NSIG))
    os.execv(a.argv[0], a.argv)


def tty_watch(master, pid, log):
    """Copy what reaches the terminal into log until pid is gone (300 s at
    most)."""
    deadline = time.monotonic() + 300
    with open(log, "ab", buffering=0) as f:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                f.write(os.read(master, 4096))
            elif exited(pid):
                break


def tty_detach(keep):
    """Hold no descriptor of the caller's but keep: not stdio, not the
    ready pipe, whose end the caller waits for."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    for fd in [int(n) for n in os.listdir("/proc/self/fd")]:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


@command("tty", "exec with a controlling terminal",
         arg("log"), arg("argv", nargs=argparse.REMAINDER))
def cmd_tty(a):
    """Run ARGV (after an optional --) with a controlling terminal, as from
    a shell in a terminal: it replaces this process (so its pid is ours)
    and leads a new session whose controlling terminal is a new
    pseudo-terminal.  A watcher, forked twice so that it is not the
    command's child, holds both sides of the terminal, so it never hangs
    up while the command runs, and copies whatever anything writes to the
    terminal into LOG until the command has exited."""
    argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
    master, slave = os.openpty()
    pid = os.getpid()
    first = os.fork()
    if first == 0:
        if os.fork() == 0:
            tty_detach((master, slave))
            tty_watch(master, pid, a.log)
        os._exit(0)
    os.waitpid(first, 0)
    os.close(master)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    os.close(slave)
    os.execvp(argv[0], argv)


@command("session", "exec in a new session, with no controlling terminal",
         arg("argv", nargs=argparse.REMAINDER))
def cmd_session(a):
    """Run ARGV (after an optional --) as the leader of a new session,
    which has no controlling terminal, as under systemd or setsid(1): it
    replaces this process, so its pid is ours."""
    argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
    os.setsid()
    os.execvp(argv[0], argv)


@command("notify-recv", "a notify or syslog socket: log each datagram",
         arg("name", help="a path, or @name for an abstract socket"),
         arg("out", help="the file each datagram goes to, a line each"),
         arg("--seconds", type=float, default=120, help="at most this long"))
def cmd_notify_recv(a):
    """Bind a UNIX datagram socket at NAME, as systemd does for
    NOTIFY_SOCKET and a syslog daemon at /dev/log, and append each datagram to OUT as one line, its
    newlines written as spaces, until SIGTERM or --seconds.  "ready" is
    printed on stdout once it is bound."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + a.name[1:] if a.name.startswith("@") else a.name)
    print("ready", flush=True)
    s.settimeout(0.2)
    end = time.monotonic() + a.seconds
    with open(a.out, "a") as out:
        while time.monotonic() < end:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            out.write(data.decode("utf-8", "replace").replace("\n", " ")
                      + "\n")
            out.flush()


# --- The control socket -------------------------------------------------

def ctl_connect(path, timeout=10):
    """A connection to the control socket, waiting out a full backlog
    (EAGAIN on a UNIX socket) for 5 s at most."""
    for _ in range(500):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            time.sleep(0.01)
    raise SystemExit("%s: backlog full for 5 s" % path)


def ctl_send_quiet(s, data):
    """Send, but let the daemon close early: its reply is still there."""
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def ctl_reply(f):
    """The lines of one reply read from file f, up to its empty line."""
    lines = []
    while True:
        line = f.readline()
        if line in (b"\n", b""):
            return lines
        lines.append(line)


def ctl_request(s, line):
    """Send one request on a control connection; return its whole reply
    as text (it ends in an empty line)."""
    s.sendall(line.encode() + b"\n")
    got = b""
    while not got.endswith(b"\n\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("control connection closed")
        got += chunk
    return got.decode()


def ctl_first_line(s):
    """A reply's first line, and whether the daemon then closed (within
    200 ms)."""
    lines = ctl_reply(s.makefile("rb"))
    first = lines[0] if lines else b""
    s.settimeout(0.2)
    try:
        closed = s.recv(1) == b""
    except socket.timeout:
        closed = False
    except ConnectionResetError:
        closed = True
    return first.rstrip(b"\n"), closed


@command("ctl-send", "requests on one control connection", SOCK,
         arg("requests", nargs="+",
             help="each in Python's escapes, with its newline: 'kill 1\\n'"))
def cmd_ctl_send(a):
    """Send each request on one control connection and print the first
    line of each reply (undecodable bytes as ?)."""
    s = ctl_connect(a.sock)
    f = s.makefile("rb")
    for req in a.requests:
        s.sendall(codecs.escape_decode(req.encode())[0])
        lines = ctl_reply(f)
        print(lines[0].decode("ascii", "replace").rstrip("\n")
              if lines else "")
    s.close()


CTL_HOSTILE = [
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


def ctl_hostile_one(path, req):
    """The first reply line to req on a connection of its own, then "eof"
    if the daemon closed, or "usable" if a version request on the same
    connection still gets ok."""
    s = ctl_connect(path)
    ctl_send_quiet(s, req)
    f = s.makefile("rb")
    lines = ctl_reply(f)
    first = lines[0].rstrip(b"\n") if lines else b""
    try:
        s.sendall(b"version\n")
        after = "usable" if f.readline() == b"ok\n" else "eof"
    except (BrokenPipeError, ConnectionResetError):
        after = "eof"
    s.close()
    return first, after


@command("ctl-requests", "malformed control requests, echo probed meanwhile",
         SOCK, PORT)
def cmd_ctl_requests(a):
    """Send each malformed control request on a connection of its own, in
    rounds, each round followed by a quiet spell as long, until 150 echo
    probes on PORT (every 2 ms throughout) fell within rounds.  Print
    "REQ -> FIRST-REPLY-LINE usable|eof" per request, then the probes'
    count and p99 within the rounds and within the quiet spells, so that
    a machine loaded by other work loads both alike."""
    probe = Prober(a.port, 0.002)
    probe.start()
    rounds, busy = [], 0
    for r in range(300):
        if busy >= 150:
            break
        t0 = time.monotonic()
        for req in CTL_HOSTILE:
            first, after = ctl_hostile_one(a.sock, req)
            if r == 0:
                shown = req if len(req) < 64 else req[:8] + b"...%d" % len(req)
                print("%r -> %s %s" % (shown, first.decode(
                    "ascii", "backslashreplace"), after))
        t1 = time.monotonic()
        rounds.append((t0, t1))
        time.sleep(t1 - t0)
        busy += sum(1 for x in list(probe.times) if t0 <= x[0] < t1)
    probe.stop()

    def within(t):
        return any(lo <= t < hi for lo, hi in rounds)
    b = [x[1] for x in probe.times if within(x[0])]
    q = [x[1] for x in probe.times if not within(x[0])]
    print("probes=%d p99_ms=%.1f quiet_probes=%d quiet_p99_ms=%.1f "
          "failed=%d" % (len(b), pct(b, 0.99) * 1000, len(q),
                         pct(q, 0.99) * 1000, probe.failures()))


@command("ctl-junk", "random bytes, a 1 MiB line, half-open control clients",
         SOCK, PORT, arg("n", type=int, help="half-open clients"))
def cmd_ctl_junk(a):
    """Feed the control socket random bytes and a 1 MiB line, and hold n
    silent or half-a-request clients; check that control and echo on
    PORT still answer meanwhile; print "random=... oversize=...
    control=... echo=... dropped=N/N"."""
    rnd = []
    for _ in range(20):
        s = ctl_connect(a.sock)
        try:
            s.sendall(os.urandom(65536))
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
            rnd.append("ok")
        except (ConnectionResetError, BrokenPipeError):
            rnd.append("reset")
        s.close()
    s = ctl_connect(a.sock)
    ctl_send_quiet(s, b"C" * (1 << 20) + b"\n")
    first, closed = ctl_first_line(s)
    s.close()
    held = [ctl_connect(a.sock) for _ in range(a.n)]
    for i, h in enumerate(held):
        if i % 2:
            h.sendall(b"status")    # half a request, never ended
    c = ctl_connect(a.sock)
    c.sendall(b"version\n")
    ok_ctl = ctl_first_line(c)[0] == b"ok"
    c.close()
    ok_echo = echo_ask(a.port)
    dropped, deadline = 0, time.monotonic() + 15
    for h in held:
        h.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            dropped += h.recv(1) == b""
        except socket.timeout:
            pass
        except ConnectionResetError:
            dropped += 1
        h.close()
    print("random=%s oversize=%s%s control=%s echo=%s dropped=%d/%d" % (
        ",".join(sorted(set(rnd))), first.decode(), " eof" if closed else "",
        ok_ctl, ok_echo, dropped, a.n))


@command("ctl-hold", "hold n control connections until stdin ends",
         SOCK, arg("n", type=int))
def cmd_ctl_hold(a):
    """Open n control connections and ask each for the version; print
    held=N; when stdin ends (30 s at most) ask again and print still=, how
    many still answer."""
    ctls = [ctl_connect(a.sock) for _ in range(a.n)]
    for c in ctls:
        if not ctl_request(c, "version").startswith("ok\n"):
            raise SystemExit("ctl-hold: no version reply")
    print("held=%d" % a.n, flush=True)
    select.select([sys.stdin], [], [], 30)
    still = 0
    for c in ctls:
        try:
            still += ctl_request(c, "version").startswith("ok\n")
        except (OSError, SystemExit):
            pass
        c.close()
    print("still=%d" % still)


def kill_counts(counts):
    """The kill replies counted, in the order killed, gone, other."""
    return " ".join("%s=%d" % (k, counts[k]) for k in
                    ("killed", "gone", "other"))


def kill_tally(counts, reply):
    """Count a reply to kill as killed, gone (no such connection) or
    other."""
    if reply == "ok\nkilled\n\n":
        counts["killed"] += 1
    elif reply == "error no such connection\n\n":
        counts["gone"] += 1
    else:
        counts["other"] += 1
        sys.stderr.write("unexpected reply: %r\n" % reply)


@command("ctl-kill", "kill every id in a range",
         SOCK, arg("first", type=int), arg("last", type=int))
def cmd_ctl_kill(a):
    """Send "kill ID" for every ID from FIRST to LAST on one control
    connection; print killed=, gone= and other=."""
    counts = {"killed": 0, "gone": 0, "other": 0}
    c = ctl_connect(a.sock)
    for conn in range(a.first, a.last + 1):
        kill_tally(counts, ctl_request(c, "kill %d" % conn))
    c.close()
    print(kill_counts(counts))


@command("ctl-killrace", "kill racing each handler's exit",
         PORT, SOCK, arg("n", type=int))
def cmd_ctl_killrace(a):
    """n times: connect, read the connection id the handler prints, and at
    once send "kill ID" on one control connection (every other one after
    0-6 ms, so that some land after the handler's exit, before or after
    its reap); print killed=, gone= and other=."""
    counts = {"killed": 0, "gone": 0, "other": 0}
    c = ctl_connect(a.sock)
    for i in range(a.n):
        s = connect(a.port)
        f = s.makefile("rb")
        conn = f.readline().strip().decode()
        if not conn.isdigit():
            raise SystemExit("no connection id from the handler: %r" % conn)
        if i % 2 == 1:
            time.sleep(random.uniform(0, 0.006))
        kill_tally(counts, ctl_request(c, "kill " + conn))
        f.close()
        s.close()
    c.close()
    print(kill_counts(counts))


@command("ctl-reserve", "two control clients on the reserve descriptor",
         SOCK, arg("log", help="portierd's log"))
def cmd_ctl_reserve(a):
    """With portierd out of descriptors: A connects (on the reserve) and
    asks for the version every 100 ms for 3 s while B, connected after it,
    waits; count the control-error lines the log gains meanwhile, and the
    failed accepts they stand for; then A leaves and B gets its answer.
    Print "first=A's first answer a=OK/ASKED early=whether B was answered
    early b=B's answer window_ms=N error_lines=N errors=N"."""

    def ask(s):
        s.sendall(b"version\n")
        lines = ctl_reply(s.makefile("rb"))
        return lines[0].rstrip(b"\n").decode() if lines else ""
    first_c = ctl_connect(a.sock)
    first = ask(first_c)
    b = ctl_connect(a.sock)
    b.sendall(b"version\n")
    _, _, offset = log_events(a.log, "^$")
    t0 = time.monotonic()
    asked = ok = 0
    end = t0 + 3
    while time.monotonic() < end and asked < 30:
        asked += 1
        ok += ask(first_c) == "ok"
        time.sleep(0.1)
    lines, events, _ = log_events(a.log, " event=control-error ", offset)
    window = time.monotonic() - t0
    b.setblocking(False)
    try:
        early = b.recv(1) != b""
    except BlockingIOError:
        early = False
    first_c.close()
    b.settimeout(10)
    got = ctl_reply(b.makefile("rb"))
    print("first=%s a=%d/%d early=%s b=%s window_ms=%d error_lines=%d "
          "errors=%d" % (first, ok, asked, early,
                         got[0].rstrip(b"\n").decode() if got else "",
                         window * 1000, lines, events))


@command("ctl-many", "n control clients at once", SOCK, arg("n", type=int))
def cmd_ctl_many(a):
    """n control clients connect and stay, then each asks for the version;
    print, for the first 64 and for the rest, how many got each first
    reply line, then ms=, how long it all took."""
    t0 = time.monotonic()
    held = [ctl_connect(a.sock) for _ in range(a.n)]
    kinds = collections.Counter()
    for i, s in enumerate(held):
        ctl_send_quiet(s, b"version\n")
        try:
            first = s.makefile("rb").readline().rstrip(b"\n").decode()
        except ConnectionResetError:
            first = "reset"
        kinds["%s %s" % ("first64" if i < 64 else "rest", first)] += 1
    for s in held:
        s.close()
    for k in sorted(kinds):
        print("%s: %d" % (k, kinds[k]))
    print("ms=%d" % ((time.monotonic() - t0) * 1000))


@command("ctl-trickle", "a control request a byte a second", SOCK)
def cmd_ctl_trickle(a):
    """Send a control request a byte a second, never a newline, for 25 s at
    most or until the daemon closes; print sent=N eof=BOOL reply=FIRST."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(a.sock)
    s.settimeout(1)
    sent, got, eof = 0, b"", False
    while sent < 25 and not eof:
        try:
            s.send(b"v")
            sent += 1
        except OSError:
            pass
        try:
            chunk = s.recv(4096)
            got += chunk
            eof = chunk == b""
        except socket.timeout:
            pass
        except ConnectionResetError:
            eof = True
    print("sent=%d eof=%s reply=%s" % (sent, eof,
                                       got.split(b"\n")[0].decode()))


@command("ctl-unread", "n requests whose replies are not read for 2 s",
         SOCK, arg("pid", type=int), arg("n", type=int))
def cmd_ctl_unread(a):
    """Send n "services json" requests and read none of the replies for 2 s
    (portierd drops a client that takes nothing of its reply for 5 s),
    sampling portierd's RSS; then read every reply while the rest is
    sent, and shut down writing once all is sent, which must not cost the
    replies still owed.  Print replies=, ok=, eof=, what was sent while
    held, and the RSS before and at its peak."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(a.sock)
    before = rss_kib(a.pid)
    data = memoryview(b"services json\n" * a.n)
    sent = [0]

    def send():
        while sent[0] < len(data):
            sent[0] += s.send(data[sent[0]:sent[0] + 65536])
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    peak = before
    for _ in range(20):
        time.sleep(0.1)
        peak = max(peak, rss_kib(a.pid))
    held = sent[0]
    f = s.makefile("rb")
    replies = oks = 0
    while replies < a.n:
        line = f.readline()
        if not line:
            break
        if line == b"\n":
            replies += 1
        elif line == b"ok\n":
            oks += 1
    eof = f.readline() == b""
    t.join(10)
    print("replies=%d ok=%d eof=%s sent_while_held=%d/%d rss_before=%d "
          "rss_peak=%d" % (replies, oks, eof, held, len(data), before, peak))


@command("ctl-silent", "a control client that sends nothing", SOCK)
def cmd_ctl_silent(a):
    """Connect to the control socket and send nothing; print "eof S" or
    "data S", what came first and after how many seconds (15 at most)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(15)
    s.connect(a.sock)
    t = time.monotonic()
    print("eof" if s.recv(1) == b"" else "data", round(time.monotonic() - t))


# --- Racing the daemon on the file system -------------------------------

@command("poll-modes", "watch the modes files take",
         arg("flag", help="poll while this file exists"),
         arg("paths", nargs="+", metavar="LABEL=PATH"))
def cmd_poll_modes(a):
    """lstat each PATH as fast as it can while FLAG exists (10 million
    rounds at most), and print every "LABEL:MODE:sock|other" seen, with
    how many times."""
    paths = [p.split("=", 1) for p in a.paths]
    seen = collections.Counter()
    n = 0
    while os.path.exists(a.flag) and n < 10000000:
        n += 1
        for label, p in paths:
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            seen["%s:%o:%s" % (label, stat.S_IMODE(st.st_mode),
                               "sock" if stat.S_ISSOCK(st.st_mode)
                               else "other")] += 1
    for k, v in sorted(seen.items()):
        print(k, v)


@command("swap-links", "swap links in for a socket file",
         arg("kind", choices=("symlink", "hardlink")),
         arg("path"), arg("target"),
         arg("flag", help="swap while this file exists"))
def cmd_swap_links(a):
    """Rename a prepared link to TARGET over PATH whenever PATH is a
    socket, as fast as it can, while FLAG exists (100 s and 50 million
    rounds at most); print rounds= and swaps=."""
    new = a.path + ".new"
    make = os.symlink if a.kind == "symlink" else os.link
    end = time.monotonic() + 100
    made = False
    n = swaps = 0
    while n < 50000000:
        if n % 4096 == 0 and (not os.path.exists(a.flag) or
                              time.monotonic() > end):
            break
        n += 1
        if not made:
            make(a.target, new)
            made = True
        try:
            if stat.S_ISSOCK(os.lstat(a.path).st_mode):
                os.rename(new, a.path)
                made = False
                swaps += 1
        except FileNotFoundError:
            pass
    if made:
        os.unlink(new)
    print("rounds=%d swaps=%d" % (n, swaps))


# --- Reload and shutdown under live connections --------------------------

@command("reload-live", "live connections across a reload",
         arg("bp", type=int, help="a built-in echo's port"),
         arg("xp", type=int, help="an exec service's port (in, read, "
             "finished LINE)"),
         arg("go", help="wait for this file"))
def cmd_reload_live(a):
    """20 connections to each service, each served once; then create
    GO.ready and wait (10 s at most) for GO; then each is served again and
    closed.  Print completed=N, how many went through both."""
    b = [connect(a.bp) for _ in range(20)]
    x = [connect(a.xp) for _ in range(20)]
    for s in b:
        s.sendall(b"before\n")
        assert recv_n(s, 7) == b"before\n"
    xf = [s.makefile("rb") for s in x]
    for f in xf:
        assert f.readline() == b"in\n"
    open(a.go + ".ready", "w").close()
    for _ in range(200):
        if os.path.exists(a.go):
            break
        time.sleep(0.05)
    ok = 0
    for s in b:
        s.sendall(b"after\n")
        ok += recv_n(s, 6) == b"after\n"
        s.shutdown(socket.SHUT_WR)
        ok += s.recv(1) == b""
    for s, f in zip(x, xf):
        s.sendall(b"well\n")
        ok += f.readline() == b"finished well\n"
        ok += f.read() == b""
    print("completed=%d" % (ok // 2 if ok % 2 == 0 else -1))


@command("drain", "connections through a SIGTERM drain, timed",
         arg("bp", type=int, help="a built-in echo's port"),
         arg("xp", type=int, help="an exec service's port (in, then each "
             "line back; says term and cont on those signals)"),
         arg("pid", type=int, help="portierd's pid"))
def cmd_drain(a):
    """50 connections to each service; SIGTERM to portierd; then, in ms
    after the signal: when both listeners refused a new client, whether
    all 100 still answer at 1 s and at 3.5 s, when each side saw EOF,
    what the handlers said, and when portierd exited (15 s at most)."""
    b = [connect(a.bp, timeout=15) for _ in range(50)]
    x = [connect(a.xp, timeout=15) for _ in range(50)]
    xf = [s.makefile("rb") for s in x]
    for f in xf:
        assert f.readline() == b"in\n"
    for s in b:
        s.sendall(b"hi\n")
        assert recv_n(s, 3, 15) == b"hi\n"
    t0 = time.monotonic()
    os.kill(a.pid, signal.SIGTERM)

    def ms():
        return (time.monotonic() - t0) * 1000
    refused = {}
    while len(refused) < 2 and ms() < 2000:
        for p in (a.bp, a.xp):
            if p in refused:
                continue
            try:
                connect(p, timeout=1).close()
            except ConnectionRefusedError:
                refused[p] = ms()
            except ConnectionResetError:
                pass    # queued as the listener closed, reset with it
        time.sleep(0.005)
    print("refused_ms=%d" % max(refused.values()) if len(refused) == 2
          else "refused=no")

    def rounds(tag):
        ok = 0
        for s in b:
            s.sendall(tag + b"\n")
            ok += recv_n(s, len(tag) + 1, 15) == tag + b"\n"
        for s, f in zip(x, xf):
            s.sendall(tag + b"\n")
            ok += f.readline() == tag + b"\n"
        return ok
    time.sleep(max(0, 1 - ms() / 1000))
    print("at1s=%d" % rounds(b"one"))
    time.sleep(max(0, 3.5 - ms() / 1000))
    print("at3s=%d" % rounds(b"three"))
    bi_eof = []
    for s in b:
        s.settimeout(15)
        while s.recv(100):
            pass
        bi_eof.append(ms())
        s.close()
    got, ex_eof = collections.Counter(), []
    for f in xf:
        lines = f.read().split()
        ex_eof.append(ms())
        got.update(lines)
    print("bi_eof=%d..%d" % (min(bi_eof), max(bi_eof)))
    print("ex_eof=%d..%d" % (min(ex_eof), max(ex_eof)))
    print("term=%d cont=%d" % (got[b"term"], got[b"cont"]))
    while ms() < 15000 and not exited(a.pid):
        time.sleep(0.01)
    print("exit_ms=%d" % ms())


# --- Odds and ends -------------------------------------------------------

@command("views", "a view's table and JSON forms say the same",
         arg("dir", help="holds VIEW.txt and VIEW.json of status, services "
             "and connections"),
         arg("-n", type=int, default=2, help="rows of services and "
             "connections"))
def cmd_views(a):
    """Compare portierctl's table and JSON replies of status, services and
    connections, saved in dir as VIEW.txt and VIEW.json, value for value;
    each table must have -n rows.  Fails with the first difference."""
    def both(v):
        with open(os.path.join(a.dir, v + ".txt")) as f:
            lines = f.read().splitlines()
        with open(os.path.join(a.dir, v + ".json")) as f:
            return lines, json.load(f)

    def rows(v):
        lines, d = both(v)
        head = re.split(r"  +", lines[0])
        cells = [dict(zip(head, re.split(r"  +", ln))) for ln in lines[1:]]
        assert len(cells) == len(d[v]) == a.n, (cells, d)
        return zip(cells, d[v])

    def text(x):
        return "-" if x is None else str(x)

    lines, st = both("status")
    tab = dict(re.split(r" +", ln, maxsplit=1) for ln in lines)
    for k in ("pid", "version", "services", "active", "accepted",
              "exec_failures"):
        assert tab[k] == str(st[k]), (k, tab[k], st[k])
    r = st["last_reload"]
    assert tab["reload"] == "%s %s" % (r["time"], r["result"]), \
        (tab["reload"], r)
    for c, j in rows("services"):
        kind = ("builtin:" + j["builtin"] if j["kind"] == "builtin"
                else j["kind"])
        want = [j["name"], kind, ",".join(j["listen"]),
                j["max_connections"], j["active"], j["accepted"],
                j["refused"], j["state"], ",".join(j["overrides"]) or "-"]
        assert list(c.values()) == [str(x) for x in want], (c, j)
    for c, j in rows("connections"):
        want = [j["id"], j["service"],
                "builtin" if j["pid"] is None else j["pid"], j["remote"],
                c["AGE"], j["state"], text(j["bytes_in"]),
                text(j["bytes_out"])]
        assert list(c.values()) == [str(x) for x in want], (c, j)
        assert re.fullmatch(r"[0-9]+\.[0-9]s", c["AGE"]) and \
            j["age"] >= 0, (c, j)
    print("views agree")


@command("json", "evaluate a Python expression over JSON",
         arg("expr", help="a Python expression over d"))
def cmd_json(a):
    """Evaluate EXPR over the JSON document on stdin, as d; of a services
    reply, s is the first service and svc(NAME) the service NAME.  A
    truth value is the exit status (and a false one prints the document
    on stderr); anything else is printed: a list one item a line, a tuple
    as words."""
    d = json.load(sys.stdin)
    services = d.get("services") if isinstance(d, dict) else None
    if not isinstance(services, list):
        services = None

    def svc(name):
        return next(x for x in services if x["name"] == name)
    v = eval(a.expr, {"d": d, "svc": svc,
                      "s": services[0] if services else None})

    def words(x):
        return " ".join(map(str, x)) if isinstance(x, tuple) else str(x)
    if isinstance(v, bool):
        if not v:
            json.dump(d, sys.stderr, indent=1)
            sys.exit(1)
    elif isinstance(v, list):
        for x in v:
            print(words(x))
    else:
        print(words(v))


def listen_on(addr):
    """A socket listening on ADDR (HOST:PORT, [V6]:PORT or unix:PATH)."""
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX)
        s.bind(addr[5:])
        s.listen()
        return s, addr[5:]
    host, port = addr.rsplit(":", 1)
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    s = socket.socket(family)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host.strip("[]"), int(port)))
        s.listen()
    except OSError:
        s.close()
        raise
    return s, s.getsockname()[1]


@command("listen", "listen on addresses, or leave a stale unix socket",
         arg("addrs", nargs="+", metavar="ADDR"),
         arg("--retry", type=float, default=0,
             help="seconds to keep trying a taken address"),
         arg("--hold", type=float, default=0,
             help="seconds to hold the sockets (default: close at once)"),
         on_term=True)
def cmd_listen(a):
    """Listen on each ADDR (HOST:PORT, port 0 for one the kernel picks, or
    unix:PATH, whose file is left behind as a stale socket), trying a
    taken one again every 10 ms for --retry seconds; print each port or
    path as it is bound; hold them --hold seconds or until SIGTERM."""
    end = time.monotonic() + a.retry
    socks = []
    for addr in a.addrs:
        while True:
            try:
                s, where = listen_on(addr)
                break
            except OSError as e:
                if time.monotonic() > end:
                    raise SystemExit("%s: %s" % (addr, e))
                time.sleep(0.01)
        socks.append(s)
        print(where, flush=True)
    hold_until(a.hold)
    for s in socks:
        s.close()


@command("listen-exec", "exec a command with a listening socket as fds 0 and 1",
         arg("argv", nargs="+", metavar="COMMAND"),
         arg("--addr", default=HOST + ":0",
             help="where to listen (default: a port of %s the kernel picks)"
             % HOST))
def cmd_listen_exec(a):
    """Listen on --addr, print its port, then exec COMMAND with the
    listening socket as its fds 0 and 1, as inetd starts a "wait" service;
    fd 2 and the rest are left as they are."""
    s, where = listen_on(a.addr)
    print(where, flush=True)
    os.dup2(s.fileno(), 0)
    os.dup2(s.fileno(), 1)
    s.close()
    os.execvp(a.argv[0], a.argv)


# The socket options of portier.conf, as getsockopt(2) reads them back:
# (name, level, option, for an IPv6 socket (level, option) or None).  Those
# after CONN_OPTS are the listener's alone.
SOCKOPTS = [
    ("keepalive", socket.SOL_SOCKET, socket.SO_KEEPALIVE, None),
    ("keepalive_idle", socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, None),
    ("keepalive_interval", socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, None),
    ("keepalive_count", socket.IPPROTO_TCP, socket.TCP_KEEPCNT, None),
    ("nodelay", socket.IPPROTO_TCP, socket.TCP_NODELAY, None),
    ("receive_buffer", socket.SOL_SOCKET, socket.SO_RCVBUF, None),
    ("send_buffer", socket.SOL_SOCKET, socket.SO_SNDBUF, None),
    ("mark", socket.SOL_SOCKET, socket.SO_MARK, None),
    ("defer_accept", socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, None),
    ("fastopen", socket.IPPROTO_TCP, socket.TCP_FASTOPEN, None),
    ("reuse_port", socket.SOL_SOCKET, socket.SO_REUSEPORT, None),
    ("freebind", socket.IPPROTO_IP, 15, (socket.IPPROTO_IPV6, 78)),
    ("transparent", socket.IPPROTO_IP, 19, (socket.IPPROTO_IPV6, 75)),
    ("ipv6_only", None, None, (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)),
]
CONN_OPTS = 8
SYS_PIDFD_GETFD = 438


def sockopts_of(s, listener):
    """name=value lines of socket s's options (a listener's all of them),
    bind_device last."""
    out = []
    for name, level, opt, six in SOCKOPTS[:None if listener else CONN_OPTS]:
        if s.family == socket.AF_INET6 and six is not None:
            level, opt = six
        if level is None:
            continue
        out.append("%s=%d" % (name, s.getsockopt(level, opt)))
    if listener:
        dev = s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16)
        out.append("bind_device=%s" % dev.split(b"\0")[0].decode())
    return out


def pidfd_getfd(pid, fd):
    """A copy of process pid's descriptor fd (pidfd_getfd(2), as root)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if got < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return got
    finally:
        os.close(pidfd)


def listener_of(pid, port):
    """A socket object for the TCP socket process pid listens on at port."""
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            if not os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith(
                    "socket:"):
                continue
            s = socket.socket(fileno=pidfd_getfd(pid, int(name)))
        except OSError:
            continue
        if (s.type == socket.SOCK_STREAM and s.family in
                (socket.AF_INET, socket.AF_INET6) and
                s.getsockname()[1] == port and
                s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
            return s
        s.close()
    raise SystemExit("pid %d listens on no port %d" % (pid, port))


@command("sockopts", "print the socket options of fd 0, a listener, or a "
         "fresh pair",
         arg("--pid", type=int, help="read portierd's listener on --port"),
         arg("--port", type=int),
         arg("--reference", action="store_true",
             help="a listener on 127.0.0.1 and a connection it accepted, "
             "with no option set but --set's"),
         arg("--set", action="append", default=[], metavar="NAME=VALUE",
             help="with --reference: set this option on the listener"))
def cmd_sockopts(a):
    """Print name=value, one a line, for each socket option portier.conf
    sets, as getsockopt(2) reads it back: of fd 0 (a handler's connection,
    when run as one), of the socket portierd (--pid) listens on at --port,
    taken with pidfd_getfd(2), or, with --reference, of a listener made here
    with only --set's options and of a connection it accepted, each line
    prefixed "listener " or "conn ": what the kernel gives those values."""
    if a.reference:
        opts = {name: (level, opt) for name, level, opt, _ in SOCKOPTS}
        ls = socket.socket()
        for kv in a.set:
            name, value = kv.split("=", 1)
            ls.setsockopt(*opts[name], int(value))
        ls.bind((HOST, 0))
        ls.listen()
        c = socket.create_connection(ls.getsockname(), timeout=10)
        c.send(b"x")
        ls.settimeout(10)
        conn, _ = ls.accept()
        for line in sockopts_of(ls, True):
            print("listener " + line)
        for line in sockopts_of(conn, False):
            print("conn " + line)
        return
    if a.pid is not None:
        s = listener_of(a.pid, a.port)
        print("\n".join(sockopts_of(s, True)), flush=True)
        return
    s = socket.socket(fileno=os.dup(0))
    # What the client sent first is read, so that the close sends no
    # reset that could destroy the answer.
    if select.select([0], [], [], 5)[0]:
        os.read(0, 4096)
    os.write(1, ("\n".join(sockopts_of(s, False)) + "\n").encode())


def main(argv):
    """Parse the subcommand and its arguments and run it."""
    p = argparse.ArgumentParser(prog="ptest.py", description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="SUBCOMMAND")
    for name, (fn, summary, args, on_term) in COMMANDS.items():
        sp = sub.add_parser(name, help=summary,
                            description=inspect.cleandoc(fn.__doc__),
                            formatter_class=argparse.RawTextHelpFormatter)
        for flags, kw in args:
            sp.add_argument(*flags, **kw)
        sp.set_defaults(fn=fn, on_term=on_term)
    a = p.parse_args(argv)
    if a.on_term:
        signal.signal(signal.SIGTERM,
                      lambda signum, frame: STOPPED.__setitem__(0, True))
    a.fn(a)


if __name__ == "__main__":
    main(sys.argv[1:])
