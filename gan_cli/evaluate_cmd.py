"""`gan eval`: metrics, the method's view and a health verdict for one checkpoint, saved as JSON."""

from pathlib import Path

from gan_cli import rundir
from gan_cli.checkpoint import load_checkpoint
from gan_cli.config import resolve_device
from gan_cli.data import data_of
from gan_cli.errors import ConfigError
from gan_cli.evaluate import print_metrics
from gan_cli.files import write_json
from gan_cli.health import print_verdict


def evaluate_checkpoint(checkpoint, eval_cfg, data_dir, seed: int = 0, device: str = "auto",
                        out=None) -> dict:
    """Rebuild the checkpoint's method, evaluate its (averaged) nets on the real data, judge."""
    device = resolve_device(device)
    path = rundir.find_checkpoint(checkpoint)
    ckpt = load_checkpoint(path, map_location=device)
    method, nets = rundir.rebuild(ckpt, device, f"checkpoint {path}")
    data = data_of(ckpt, data_dir, device)
    evaluate, settings = method.evaluator(data, eval_cfg, Path(str(data_dir)) / "gan_cli_features")
    metrics = evaluate(nets, seed) if evaluate else {}
    snap = {**method.snapshot(nets, data, seed), "step": ckpt["step"]}
    findings = method.verdict([snap], [{"step": ckpt["step"], **metrics}] if metrics else [], streak_min=1)
    print_metrics(metrics, settings)
    print_verdict(findings)
    result = {"checkpoint": str(path), "step": ckpt["step"], "data_source": data.source,
              "metrics": metrics, "eval": settings, "diagnostics": snap, "health": findings}
    out = Path(str(out)) if out else rundir.run_dir_of(path) / rundir.EVAL
    try:
        write_json(out, result)
    except OSError as e:  # a read-only or missing folder, a full disk
        raise ConfigError(f"out={out}: cannot write ({e.strerror or e})") from None
    print(f"wrote {out}")
    return result
