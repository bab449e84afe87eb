"""benchmarks/gpu_check.sh end to end on the CPU with tiny sizes: the day a GPU is lent, its
minutes go to measuring, not to a script that crashes."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_end_to_end_on_the_cpu(tmp_path, data_dir):
    env = {**os.environ, "DEVICE": "cpu", "TINY": "1", "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                          env=env, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "out" / "table.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 7, table
    assert "images/s" in rows[0] and "ratio" in rows[0] and "GFLOP per iteration" in rows[4]
    assert rows[-1].startswith("| resume") and "bit-identical" in rows[-1]  # deterministic: exact
    assert "skipped" in (tmp_path / "out" / "tests.txt").read_text()  # the cuda tests, on a CPU
