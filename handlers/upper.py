#!/usr/bin/env python3
"""upper.py: each line from the client comes back in upper case.

The connection is stdin and stdout.  Write and flush per line: Python
buffers stdout when it is not a terminal, and the client would wait.
"""
import os
import sys


def main():
    who = os.environ.get("TCPREMOTEIP", "client")
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        sys.stdout.write(line.upper())
        sys.stdout.flush()
    sys.stderr.write("upper.py: %s done\n" % who)


if __name__ == "__main__":
    main()
