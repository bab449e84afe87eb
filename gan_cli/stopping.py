"""Stopping a run on a signal: Ctrl-C (SIGINT) and SIGTERM (what SLURM and most schedulers send
before they preempt a job) are handled alike, without losing what was trained.

    start-up (data, evaluator)   a signal ends the run at once (nothing trained to save)
    training loop (armed)        the first signal stops it at the next iteration boundary, where
                                 the runner writes the checkpoint and results.json; a second
                                 signal ends it at once, the last checkpoint on disk standing
    writing a file (protected)   any signal waits until the file is complete

Ending at once raises Interrupted (a KeyboardInterrupt that knows the first signal), which cli.py
turns into one line and exit code 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM.
(Python runs a handler once for any number of one signal that arrive during one C call, such as
one long torch operation: two quick Ctrl-Cs there count as one.)
"""

import logging
import signal
import sys
import threading
from contextlib import contextmanager

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A run ended by a signal, at once."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal."""
    return 128 + int(signum)


EARLY: list[int] = []  # signals taken by raise_interrupted before a run's Stop took over


def raise_interrupted(signum, frame) -> None:
    """Start-up's handler (cli.py). It also records the signal: a library that catches every
    exception while it imports (seen with torch's, under load) would otherwise swallow it, and
    the run would start regardless; Stop.installed raises it again."""
    EARLY.append(signum)
    raise Interrupted(signum)


def exit_quietly(signum: int, line: str = "") -> None:
    """Print line (to stderr) and exit 128 + signum, ignoring further signals from here on: none
    can cut the exit short with a traceback."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    if line:
        print(line, file=sys.stderr)
    sys.exit(exit_code(signum))


class Stop:
    """The signal handler of one run. `signum` is the first signal received (None: none yet)."""

    def __init__(self):
        self.signum, self.count = None, 0
        self.armed = False       # in the training loop: the first signal only asks it to stop
        self.protecting = False  # writing a checkpoint or results.json
        self.pending = False     # a signal arrived while protecting: end once the file is written

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def handler(self, signum, frame) -> None:
        self.signum, self.count = self.signum or signum, self.count + 1
        if self.protecting:
            self.pending = True
        elif self.armed and self.count == 1:
            log.warning(f"{signal.Signals(signum).name}: stopping after this step and saving a "
                        "checkpoint (send it again to end at once, keeping the last checkpoint)")
        else:
            raise Interrupted(self.signum)  # the first signal names how the run ended

    @contextmanager
    def installed(self):
        """The handler for SIGINT and SIGTERM (main thread only: Python's rule for handlers)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self.handler) for s in SIGNALS}
        try:
            if EARLY:  # a start-up signal that something swallowed: end now, nothing trained
                raise Interrupted(EARLY[0])
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextmanager
    def protected(self):
        """Write a file whole: a signal meanwhile takes effect right after (if it ends the run)."""
        outer, self.protecting = self.protecting, True
        try:
            yield
        finally:
            self.protecting = outer
        if self.pending and not outer:
            self.pending = False
            if self.count > 1 or not self.armed:  # not the armed loop's first signal
                raise Interrupted(self.signum)
