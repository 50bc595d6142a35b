#!/usr/bin/env python3
"""worker.py: a server that accepts for itself, on listening sockets
passed the systemd way.  Each client is greeted "worker PID SERVICE", then
each line it sends comes back in upper case, until it closes or says quit.

portier runs it as a service whose handler accepts (pass = "systemd" is
the default), one process per worker, all racing to accept:

    service upper {
        listen = { "127.0.0.1:7001" }
        accept = "handler"
        workers = 2
        exec = { "/usr/local/libexec/worker.py" }
    }

and so, unchanged, does `systemd-socket-activate -l 127.0.0.1:7001
worker.py`, or a systemd socket unit with Accept=no.  The sockets are fds
3 on, LISTEN_FDS of them, and meant for this process only if LISTEN_PID is
its pid.  They are blocking and shared with the other workers, so they
stay blocking: a worker whose accept loses the race waits in it.  Clients
are served at once, a thread each.  SIGTERM closes the listeners and lets
the clients connected finish.  With NOTIFY_SOCKET set it tells systemd
(or portier) when it is ready and how many clients it serves.
"""
import os
import selectors
import signal
import socket
import sys
import threading

NAME = "worker.py"


class Stop(Exception):
    """SIGTERM, ending an accept that lost the race to another worker."""


STATE = {"stopping": False, "in_accept": False, "live": 0, "served": 0}
LOCK = threading.Lock()


def on_term(signum, frame):
    # The selector wakes through the wakeup fd; only a blocked accept
    # must be broken out of.
    STATE["stopping"] = True
    if STATE["in_accept"]:
        raise Stop()


def listeners():
    """The sockets passed to this process, or exit saying why not."""
    pid, n = os.environ.pop("LISTEN_PID", ""), os.environ.pop("LISTEN_FDS", "")
    names = os.environ.pop("LISTEN_FDNAMES", "").split(":")
    if pid != str(os.getpid()):
        sys.exit("%s: LISTEN_PID is %r, not my pid %d: these sockets are "
                 "not mine" % (NAME, pid, os.getpid()))
    if not n.isdigit() or int(n) < 1:
        sys.exit("%s: LISTEN_FDS is %r: no socket passed" % (NAME, n))
    socks = []
    for fd in range(3, 3 + int(n)):
        s = socket.socket(fileno=fd)
        if not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            sys.exit("%s: fd %d is not a listening socket" % (NAME, fd))
        socks.append(s)
    return socks, names


def notify(text):
    """Send text to the service manager's notify socket, if it has one."""
    path = os.environ.get("NOTIFY_SOCKET", "")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(text.encode(), path)
        except OSError:
            pass


def count(delta):
    """Count a client in or out, and tell the service manager."""
    with LOCK:
        STATE["live"] += delta
        STATE["served"] += delta > 0
        live = STATE["live"]
        notify("STATUS=serving %d clients\nCONNECTIONS=%d" % (live, live))


def serve(conn, service):
    """Greet one client and echo its lines in upper case."""
    try:
        with conn, conn.makefile("rb") as f:
            conn.sendall(b"worker %d %s\n" % (os.getpid(), service.encode()))
            for line in iter(lambda: f.readline(65536), b""):
                if line.strip() == b"quit":
                    break
                conn.sendall(line.upper())
    except OSError:
        pass    # a client gone is its own loss
    finally:
        count(-1)


def accept(lsock):
    """A client of lsock, or None when SIGTERM came first.  Stop may be
    raised anywhere in here, so the caller catches it."""
    try:
        STATE["in_accept"] = True
        if STATE["stopping"]:
            return None
        return lsock.accept()[0]
    finally:
        STATE["in_accept"] = False


def run(socks, names):
    """Accept and hand on clients until SIGTERM."""
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    sel = selectors.DefaultSelector()
    sel.register(wake_r, selectors.EVENT_READ)
    for i, s in enumerate(socks):
        svc = os.environ.get("PORTIER_SERVICE") or \
            (names[i] if i < len(names) and names[i] else "worker")
        sel.register(s, selectors.EVENT_READ, svc)
    while not STATE["stopping"]:
        for key, _ in sel.select():
            if key.fileobj is wake_r or STATE["stopping"]:
                continue
            try:
                conn = accept(key.fileobj)
            except Stop:
                conn = None
            if conn is not None:
                count(1)
                threading.Thread(target=serve, args=(conn, key.data)).start()
    for s in socks:
        s.close()


def main():
    socks, names = listeners()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    sys.stderr.write("%s: pid %d accepting on %d sockets\n"
                     % (NAME, os.getpid(), len(socks)))
    notify("READY=1\nSTATUS=serving 0 clients\nCONNECTIONS=0")
    run(socks, names)
    sys.stderr.write("%s: pid %d stopped accepting; %d clients left\n"
                     % (NAME, os.getpid(), STATE["live"]))
    notify("STOPPING=1")
    for t in threading.enumerate():
        if t is not threading.current_thread():
            t.join()
    sys.stderr.write("%s: pid %d done after %d clients\n"
                     % (NAME, os.getpid(), STATE["served"]))


if __name__ == "__main__":
    main()
