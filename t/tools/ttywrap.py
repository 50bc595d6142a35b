#!/usr/bin/env python3
"""Run a command with a controlling terminal, as from a shell in a terminal.

    ttywrap.py LOG [--] COMMAND [ARG...]

The command replaces this process (so its pid is ours) and leads a new
session whose controlling terminal is a new pseudo-terminal.  A forked
watcher holds both sides of the terminal, so it never hangs up while the
command runs, and copies whatever anything writes to the terminal into
LOG, until the command has exited (at most 300 s).
"""
import fcntl
import os
import select
import sys
import termios
import time


def gone(pid):
    """Whether pid has exited (a zombie counts as exited)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def watch(master, pid, log):
    """Copy what reaches the terminal into log until pid is gone."""
    deadline = time.monotonic() + 300
    with open(log, "ab", buffering=0) as f:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                f.write(os.read(master, 4096))
            elif gone(pid):
                break


def detach(keep):
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


def main():
    log, cmd = sys.argv[1], sys.argv[2:]
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    master, slave = os.openpty()
    pid = os.getpid()
    # Twice, so that the watcher is not the command's child.
    first = os.fork()
    if first == 0:
        if os.fork() == 0:
            detach((master, slave))
            watch(master, pid, log)
        os._exit(0)
    os.waitpid(first, 0)
    os.close(master)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    os.close(slave)
    os.execvp(cmd[0], cmd)


main()
