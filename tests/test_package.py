"""A plain (non-editable) install ships the YAML configs inside the wheel, and they work."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_configs_and_runs(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("gan_cli-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("gan_cli/conf/") for n in names if n.startswith("gan_cli/conf/")}
    in_repo = {str(p.relative_to(ROOT / "conf")) for p in (ROOT / "conf").rglob("*.yaml")}
    assert in_repo and shipped == in_repo

    # Install the wheel alone into a folder that shadows the editable checkout, then compose.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, timeout=300)
    code = ("import gan_cli, sys; print('FROM', gan_cli.__file__); "
            "from gan_cli.cli import main; sys.argv=['gan','train','--cfg','job','model=mlp']; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(target)}, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"FROM {target}" in result.stdout and "hidden: 128" in result.stdout
