"""Run one command and restart it, with capped exponential backoff, whenever it dies.

``make up`` wraps each service in it (``python -m deploy.local.keep_running --name
registry -- <command>``): honcho stops the whole suite as soon as one of its processes
ends, so a service that crashed would take every other one down with it. Here the
dead child is logged (which, exit status, attempt, next delay) and started again
while the others keep running; the delay doubles from ``--first-delay`` up to
``--max-delay`` and starts over once a child stayed up ``--stable-after`` seconds.

SIGINT and SIGTERM are passed on to the child and end the supervisor with it, never
a restart: honcho's Ctrl-C (SIGTERM to each process group) stops everything.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from shared.backoff import backoff, next_attempt


def describe(returncode: int) -> str:
    if returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"status {returncode}"


class Supervisor:
    def __init__(
        self, name: str, cmd: list[str], first: float, cap: float, stable_after: float
    ) -> None:
        self.name, self.cmd = name, cmd
        self.first, self.cap, self.stable_after = first, cap, stable_after
        self.stopping = threading.Event()  # its wait() is cut short by the signal handler
        self.child: subprocess.Popen[bytes] | None = None

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping.set()
        if self.child is not None:
            self.child.send_signal(signum)  # no-op once the child is reaped

    def run(self) -> int:
        attempt = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            self.child = subprocess.Popen(self.cmd)
            if attempt:
                self.log(f"restarted (pid {self.child.pid})")
            if self.stopping.is_set():  # a signal came while it was starting
                self.child.terminate()
            returncode = self.child.wait()
            if self.stopping.is_set():
                return 128 - returncode if returncode < 0 else returncode
            uptime = time.monotonic() - started
            attempt = next_attempt(attempt, uptime, self.stable_after)
            delay = backoff(attempt, self.first, self.cap)
            self.log(
                f"exited with {describe(returncode)} after {uptime:.1f} s; "
                f"restart attempt {attempt} in {delay:.1f} s"
            )
            self.stopping.wait(delay)
        return 0

    def log(self, message: str) -> None:
        print(f"keep_running: {self.name} {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.keep_running")
    parser.add_argument("--name", default="child", help="how the log names the command")
    parser.add_argument("--first-delay", type=float, default=1.0, help="seconds")
    parser.add_argument("--max-delay", type=float, default=30.0, help="seconds")
    parser.add_argument("--stable-after", type=float, default=60.0, help="seconds")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command [args…]")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given after --")
    supervisor = Supervisor(args.name, cmd, args.first_delay, args.max_delay, args.stable_after)
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
