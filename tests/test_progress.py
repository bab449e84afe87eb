"""The progress display: the time left comes from the steps/s shown beside it, and it fits 80 columns."""

import io
import logging
import re

import pytest
from rich.console import Console

from gan_cli.progress import RateColumn, TrainingProgress, format_stats, time_left

TAGS = {"loss_d": "loss/d", "loss_g": "loss/g", "D_real": "critic/real", "D_fake": "critic/fake"}
STATS = {"loss_d": -12.3456, "loss_g": 101.25, "D_real": 1234.5, "D_fake": -987.125}


def seconds(text: str) -> int:
    h, m, s = map(int, re.search(r"(\d+):(\d\d):(\d\d) left", text).groups())
    return 3600 * h + 60 * m + s


@pytest.mark.parametrize("completed,rate", [(507, 2.0), (10, 271.4), (99_000, 0.37), (0, 1500.0)])
def test_time_left_agrees_with_the_rate_shown(completed, rate):
    """The issue's case: `2 steps/s` at step 507 of 3000 must say about 1,246 s (0:20:46) left."""
    from rich.progress import Progress
    progress = Progress(RateColumn())
    total = 100_000 if completed > 3000 else 3000
    task = progress.add_task("t", total=total, completed=completed, rate=rate)
    text = RateColumn().render(progress.tasks[task]).plain
    shown = float(re.match(r"([\d.,]+) steps/s", text)[1].replace(",", ""))
    assert abs(shown - rate) <= 0.005 * rate
    assert abs(seconds(text) - (total - completed) / rate) <= 0.5
    if completed == 507:
        assert text == "2 steps/s, 0:20:46 left"


def test_bar_fits_80_columns_with_long_names_and_counts():
    """Five-digit step counts, critic tags and large values: nothing is cut off with '…'."""
    out = io.StringIO()
    with TrainingProgress("bar", 0, 20_000, Console(file=out, width=80, force_terminal=False)) as bar:
        for _ in range(12_345):
            bar.advance()
        bar.update(12_345, format_stats(STATS, TAGS), 27.4)
        bar.live.refresh()
    text = out.getvalue()
    assert "…" not in text and "12345/20000" in text and "critic/fake -987.125" in text
    assert seconds(text) == round(7_655 / 27.4)
    assert all(len(line) <= 80 for line in text.splitlines())


def test_log_lines_say_rate_and_time_left(caplog):
    caplog.set_level(logging.INFO)
    with TrainingProgress("log", 0, 3000) as bar:
        bar.update(500, format_stats(STATS, TAGS), 2.0)
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step 500/3000")]
    assert line.endswith("| 2 steps/s, 0:20:50 left") and "loss/d -12.346" in line
    assert time_left(2500, 2.0) == "0:20:50"


def test_format_stats_names_as_tensorboard_does():
    stats = {"loss_d": 0.6931, "loss_g": 0.7, "D_real": 0.5, "D_fake": 0.25, "D_gap": 0.25}
    assert format_stats(stats, TAGS) == "loss/d 0.693  loss/g 0.700  critic/real 0.500  critic/fake 0.250"
    assert format_stats(stats) == "loss/d 0.693  loss/g 0.700  D/real 0.500  D/fake 0.250"
    assert format_stats(stats, True) == format_stats(stats, TAGS)  # the old critic flag still works
