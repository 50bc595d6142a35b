#!/usr/bin/env python3
"""Helpers for t/hostile-child.bats.  Every loop is bounded in count and
time; every result is printed as key=value.

  pchild.py zombies PID STOPFILE SECONDS   sample PID's zombie children
      every 20 ms until STOPFILE exists (SECONDS at most); print
      samples=, max= and last=.
  pchild.py latency LOG SERVICE [AFTER]   from portierd's log, the gap
      between each handler's own stamp (its stderr line, epoch seconds)
      and the log's end line of its connection, for connection ids above
      AFTER; print n=, p50=, p99=, max= in ms.
  pchild.py killrace PORT CTLSOCK N    N times: connect, read the conn id
      the handler prints, and at once send "kill ID" on one control
      connection (every other one after 0-6 ms); print killed=, gone=
      and other= (replies by kind).
  pchild.py kill CTLSOCK FIRST LAST    send "kill ID" for every ID from
      FIRST to LAST; print killed=, gone= and other=.
  pchild.py ctlhold CTLSOCK N         open N control connections, ask each
      for "version", print held=N; when stdin ends (30 s at most) ask
      again and print still=, how many still answer.
  pchild.py sigdirty CMD [ARG ...]     exec CMD with every signal that can
      be ignored ignored, and every one that can be blocked blocked.
"""
import datetime
import os
import random
import select
import signal
import socket
import sys
import time

HOST = "127.0.0.1"


def zombie_count(pid):
    """The number of zombie children of pid, from /proc."""
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # The command may hold spaces and parentheses: split after it.
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            n += 1
    return n


def zombies(pid, stopfile, seconds):
    samples, most, last = 0, 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end and not os.path.exists(stopfile):
        last = zombie_count(pid)
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


def latency(log, service, after=0):
    stamp, gaps = {}, []
    with open(log) as f:
        for line in f:
            if " service=%s " % service not in line:
                continue
            conn = field(line, "conn")
            if conn is None or int(conn) <= after:
                continue
            if " event=stderr " in line:
                stamp[conn] = float(field(line, "line").strip('"'))
            elif " event=end " in line and conn in stamp:
                gaps.append(log_time(line) - stamp.pop(conn))
    if not gaps:
        raise SystemExit("latency: no stamped connection of %s" % service)
    gaps.sort()
    ms = [g * 1000 for g in gaps]
    print("n=%d p50=%.1f p99=%.1f max=%.1f unmatched=%d" % (
        len(ms), ms[len(ms) // 2], ms[min(len(ms) - 1, len(ms) * 99 // 100)],
        ms[-1], len(stamp)))


def ctl_request(ctl, line):
    """Send one request on a control connection; return its reply."""
    ctl.sendall(line.encode() + b"\n")
    got = b""
    while not got.endswith(b"\n\n"):
        chunk = ctl.recv(4096)
        if not chunk:
            raise SystemExit("control connection closed")
        got += chunk
    return got.decode()


def tally(counts, reply):
    if reply == "ok\nkilled\n\n":
        counts["killed"] += 1
    elif reply == "error no such connection\n\n":
        counts["gone"] += 1
    else:
        counts["other"] += 1
        sys.stderr.write("unexpected reply: %r\n" % reply)


def ctl_connect(path):
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctl.settimeout(10)
    ctl.connect(path)
    return ctl


def print_counts(counts):
    print(" ".join("%s=%d" % (k, counts[k]) for k in
                   ("killed", "gone", "other")))


def killrace(port, path, n):
    counts = {"killed": 0, "gone": 0, "other": 0}
    ctl = ctl_connect(path)
    for i in range(n):
        s = socket.create_connection((HOST, port), timeout=10)
        f = s.makefile("rb")
        conn = f.readline().strip().decode()
        if not conn.isdigit():
            raise SystemExit("no connection id from the handler: %r" % conn)
        # Every other kill waits up to 6 ms, so that some land after the
        # handler's exit, before or after its reap.
        if i % 2 == 1:
            time.sleep(random.uniform(0, 0.006))
        tally(counts, ctl_request(ctl, "kill " + conn))
        f.close()
        s.close()
    ctl.close()
    print_counts(counts)


def kill(path, first, last):
    counts = {"killed": 0, "gone": 0, "other": 0}
    ctl = ctl_connect(path)
    for conn in range(first, last + 1):
        tally(counts, ctl_request(ctl, "kill %d" % conn))
    ctl.close()
    print_counts(counts)


def ctlhold(path, n):
    ctls = [ctl_connect(path) for _ in range(n)]
    for ctl in ctls:
        if not ctl_request(ctl, "version").startswith("ok\n"):
            raise SystemExit("ctlhold: no version reply")
    print("held=%d" % n, flush=True)
    select.select([sys.stdin], [], [], 30)
    still = 0
    for ctl in ctls:
        try:
            still += ctl_request(ctl, "version").startswith("ok\n")
        except (OSError, SystemExit):
            pass
        ctl.close()
    print("still=%d" % still)


def sigdirty(argv):
    for sig in range(1, signal.NSIG):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_BLOCK, range(1, signal.NSIG))
    os.execv(argv[0], argv)


def main(argv):
    cmd = argv[1]
    if cmd == "zombies":
        zombies(int(argv[2]), argv[3], float(argv[4]))
    elif cmd == "latency":
        latency(argv[2], argv[3], int(argv[4]) if len(argv) > 4 else 0)
    elif cmd == "killrace":
        killrace(int(argv[2]), argv[3], int(argv[4]))
    elif cmd == "kill":
        kill(argv[2], int(argv[3]), int(argv[4]))
    elif cmd == "ctlhold":
        ctlhold(argv[2], int(argv[3]))
    elif cmd == "sigdirty":
        sigdirty(argv[2:])
    else:
        raise SystemExit("usage: see pchild.py's docstring")


if __name__ == "__main__":
    main(sys.argv)
