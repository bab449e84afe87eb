"""Training progress: a rich bar on a terminal, plain log lines elsewhere (CI, sweeps, files)."""

import logging
import re
import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

log = logging.getLogger("gan_cli.train")


def console_handler() -> logging.Handler:
    """Rich's handler on a terminal, so log lines print above the bar; plain lines otherwise."""
    if sys.stdout.isatty():
        from rich.logging import RichHandler

        return RichHandler(show_path=False)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(levelname)s] %(message)s", "%H:%M:%S"))
    return handler


def format_stats(stats: dict, critic: bool = False, digits: int = 3) -> str:
    """Latest losses and D's mean output on real and fake (C(...): raw critic scores)."""
    d = "C" if critic else "D"
    return (f"loss_d {stats['loss_d']:.{digits}f}  loss_g {stats['loss_g']:.{digits}f}  "
            f"{d}(x) {stats['D_real']:.{digits}f}  {d}(G(z)) {stats['D_fake']:.{digits}f}")


class TrainingProgress:
    """Context manager; call update(step, status line, rate) at each log interval and advance() every step."""

    def __init__(self, mode: str, start: int, total: int):
        self.use_bar = mode == "bar" or (mode == "auto" and sys.stdout.isatty())
        self.start, self.total = start, total
        self.bar = None

    def __enter__(self):
        if self.use_bar:  # fits 80 columns: bar, M/N, steps/s, ETA, latest figures
            self.bar = Progress(BarColumn(bar_width=12), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                TextColumn("{task.fields[stats]}"))
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=self.total, completed=self.start,
                                          rate="", stats="")
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def update(self, step: int, status: str, steps_per_s: float) -> None:
        """status: the method's line of its latest figures."""
        if self.bar is not None:
            # fit 80 columns: two decimals, no "loss_" prefixes, single spaces
            short = re.sub(r"(\.\d\d)\d+", r"\1", status).replace("loss_", "").replace("  ", " ")
            self.bar.update(self.task, rate=f"{steps_per_s:.0f} steps/s", stats=short)
        else:
            log.info(f"step {step}/{self.total} | {status} | {steps_per_s:6.1f} steps/s")
