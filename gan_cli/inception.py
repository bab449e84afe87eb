"""Standard (Inception-v3) FID, only where its weights are already on disk: never a download."""

from pathlib import Path

import torch

from gan_cli.errors import ConfigError

WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's FID Inception weights
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS}"


def _weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS


def where_weights_go() -> str:
    """Which file to put where, for Inception FID without a download."""
    return (f"put {WEIGHTS} (downloaded on any connected machine from {WEIGHTS_URL}) into "
            f"{_weights_path().parent}/ (torch hub's cache, $TORCH_HOME/hub/checkpoints)")


def require_inception() -> None:
    """One-line ConfigError unless torchmetrics and the cached Inception weights are both here."""
    try:
        import torchmetrics.image.fid  # noqa: F401
    except ImportError:
        raise ConfigError("eval.metrics: fid_inception needs torchmetrics and torch-fidelity: "
                          f"pip install 'torchmetrics[image]', then {where_weights_go()}") from None
    if not _weights_path().is_file():
        raise ConfigError(f"eval.metrics: fid_inception needs the Inception weights, which gan-cli never "
                          f"downloads: {where_weights_go()}")


def inception_fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID in Inception-v3 pool features via torchmetrics, with images in [-1, 1] as (N, C, H, W)."""
    require_inception()
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=2048, normalize=True)  # takes floats in [0, 1]
    for x, is_real in ((real, True), (fake, False)):
        x = ((x.float().cpu() + 1) / 2).clamp(0, 1)
        fid.update(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x, real=is_real)
    return float(fid.compute())
