#!/usr/bin/env python3
"""pyserve.py: the Python server of the bench's workers scenario
(t/bench/run --only workers), stdlib only.  It greets each client with
"hello\\n" and closes, as t/tools/hello does, so `pload conn` drives it as
it drives hello.  The same serving code runs in three modes, so that what
differs between them is only who accepts and how often Python starts:

    pyserve.py                           a handler: the connection is on
                                         fds 0 and 1; greet it and exit
                                         (portierd's accept = "portier")
    LISTEN_FDS=1 LISTEN_PID=PID ...      a worker: accept in a loop on
                                         fd 3 (accept = "handler")
    pyserve.py --listen HOST:PORT [--processes N]
                                         standalone: bind (port 0 allowed),
                                         print the port on one line, fork
                                         N processes that accept on it

A worker's accept blocks and races the other processes' on the shared
socket.  SIGTERM ends a worker with status 0; it ends the standalone
parent after it has passed it on to its processes and reaped them.
"""
import argparse
import os
import signal
import socket
import sys

GREETING = b"hello\n"


def serve(conn):
    """Greet one client and close its connection."""
    try:
        conn.sendall(GREETING)
    except OSError:
        pass
    conn.close()


def accept_loop(sock):
    """Serve the clients of sock one by one until SIGTERM (exit 0)."""
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:         # the client gave up before we took it
            continue
        serve(conn)


def worker():
    """Mode (b): the sockets passed the systemd way, fd 3 the one used."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        sys.exit("pyserve.py: LISTEN_PID is %r, not my pid %d" % (
            os.environ.get("LISTEN_PID"), os.getpid()))
    accept_loop(socket.socket(fileno=3))


def standalone(listen, processes):
    """Mode (c): our own socket, shared by processes children."""
    host, port = listen.rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(socket.SOMAXCONN)       # portierd's default backlog
    print(sock.getsockname()[1], flush=True)
    pids = []
    # Blocked until sigwait, so that an early SIGTERM is not lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            accept_loop(sock)
        pids.append(pid)
    sock.close()
    signal.sigwait({signal.SIGTERM})
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    for pid in pids:
        os.waitpid(pid, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", metavar="HOST:PORT")
    ap.add_argument("--processes", type=int, default=1)
    args = ap.parse_args()
    if args.listen:
        standalone(args.listen, args.processes)
    elif "LISTEN_FDS" in os.environ:
        worker()
    else:
        serve(socket.socket(fileno=1))     # mode (a): the connection


if __name__ == "__main__":
    main()
