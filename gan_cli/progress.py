"""Training progress: a rich bar on a terminal, plain log lines elsewhere (CI, sweeps, files)."""

import logging
import sys

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn
from rich.text import Text

log = logging.getLogger("gan_cli.train")


def console_handler() -> logging.Handler:
    """Rich's handler on a terminal, so log lines print above the bar; plain lines otherwise."""
    if sys.stdout.isatty():
        from rich.logging import RichHandler

        return RichHandler(show_path=False)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(levelname)s] %(message)s", "%H:%M:%S"))
    return handler


STATUS_KEYS = ("loss_d", "loss_g", "D_real", "D_fake")


def format_stats(stats: dict, tags: dict | bool = False, keys=STATUS_KEYS, digits: int = 3) -> str:
    """The latest figures under their TensorBoard names (`loss/d 0.693  D/real 0.512 ...`), so the
    terminal, TensorBoard and results.json (the same names with `_` for `/`) say the same thing.
    tags: the method's stat key -> tag; or, as before, a flag for a critic game's raw scores."""
    if not isinstance(tags, dict):
        d = "critic" if tags else "D"
        tags = {"loss_d": "loss/d", "loss_g": "loss/g", "D_real": f"{d}/real", "D_fake": f"{d}/fake"}
    return "  ".join(f"{tags.get(k, k)} {float(stats[k]):.{digits}f}" for k in keys if k in stats)


def rate_text(steps_per_s: float) -> str:
    """3 significant figures, no exponent: 0.512, 2.13, 27.4, 271, 1,234."""
    return f"{steps_per_s:,.0f}" if steps_per_s >= 100 else f"{steps_per_s:.3g}"


def time_left(steps_left: int, steps_per_s: float) -> str:
    """h:mm:ss to go at steps_per_s: the ETA comes from the very rate shown beside it."""
    seconds = round(steps_left / steps_per_s) if steps_per_s > 0 else 0
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RateColumn(ProgressColumn):
    """`27.4 steps/s, 0:01:30 left`: steps/s over the last log interval and the time the steps
    still to do take at that rate, worked out afresh at every redraw."""

    def render(self, task) -> Text:
        rate = task.fields.get("rate")
        if not rate:
            return Text("")
        return Text(f"{rate_text(rate)} steps/s, {time_left(int(task.total - task.completed), rate)} left")


class TrainingProgress:
    """Context manager; call update(step, status line, rate) at each log interval and advance() every step.
    On a terminal: a bar line (bar, M/N, steps/s and time left) with the latest figures on the
    line below, so each fits 80 columns; elsewhere a log line per update with the same figures."""

    def __init__(self, mode: str, start: int, total: int, console=None):
        self.use_bar = mode == "bar" or (mode == "auto" and sys.stdout.isatty())
        self.start, self.total, self.console = start, total, console  # console: rich's own by default
        self.bar = self.live = None

    def __enter__(self):
        if self.use_bar:
            self.bar = Progress(BarColumn(bar_width=24), MofNCompleteColumn(), RateColumn(),
                                console=self.console)
            self.task = self.bar.add_task("train", total=self.total, completed=self.start, rate=None)
            self.stats = Text("")
            self.live = Live(Group(self.bar, self.stats), console=self.bar.console, refresh_per_second=10)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)
            if not self.live.console.is_interactive:  # as rich's Progress does: end the last line
                self.live.console.print()

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def update(self, step: int, status: str, steps_per_s: float) -> None:
        """status: the method's line of its latest figures."""
        if self.bar is not None:
            self.bar.update(self.task, rate=steps_per_s)
            self.stats.plain = status
        else:
            left = time_left(self.total - step, steps_per_s)
            log.info(f"step {step}/{self.total} | {status} | {rate_text(steps_per_s)} steps/s, {left} left")
