"""Conditional GAN (Mirza & Osindero 2014): the label reaches G and D, trains, and samples by class."""

import pytest
import torch
from conftest import TINY, compose_train, run_gan
from PIL import Image

from gan_cli.errors import ConfigError
from gan_cli.models import build_models, class_labels
from gan_cli.run import train


@pytest.mark.parametrize("model", ["dcgan", "mlp", "slides_mnist"])
def test_label_changes_g_output_and_d_logit(model):
    cfg = compose_train([f"model={model}", "model.conditional=true"])
    G, D = build_models(cfg.model, (1, 28, 28), "cpu", num_classes=10)
    G.eval(), D.eval()
    z = torch.randn(4, G.z_dim)
    same = torch.zeros(4, dtype=torch.long)
    other = torch.full((4,), 7)
    with torch.no_grad():
        assert not torch.allclose(G(z, same), G(z, other))
        x = G(z, same)
        assert not torch.allclose(D(x, same), D(x, other))
        assert torch.equal(G(z, same), G(z, same.clone()))


def test_conditional_needs_labels_and_valid_classes():
    cfg = compose_train(["model=mlp", "model.conditional=true"])
    with pytest.raises(ConfigError, match="needs labelled data"):
        build_models(cfg.model, (3, 32, 32), "cpu", num_classes=None)
    G, _ = build_models(cfg.model, (2,), "cpu", num_classes=8)
    assert class_labels(G, 10, "cpu").tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    with pytest.raises(ConfigError, match="label=8 is not allowed"):
        class_labels(G, 3, "cpu", label=8)


@pytest.mark.parametrize("model", ["dcgan", "mlp", "slides_mnist"])
def test_every_model_trains_conditionally(model, tmp_path, data_dir):
    extra = ["model.g.width=8", "model.d.width=8"] if model == "dcgan" else []
    cfg = compose_train(TINY + ["data.download=false", f"model={model}", "model.conditional=true",
                                *extra])
    results = train(cfg, tmp_path)
    assert results["status"] == "completed"
    ckpt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert any(k.startswith("G.") for k in ckpt["nets"]["G"])  # the wrapped, conditional G


def test_conditional_wgan_gp_and_eval_metrics(tmp_path):
    cfg = compose_train(TINY + ["model=mlp", "data=ring8", "data.n_points=500", "model.conditional=true",
                                "loss=wgan_gp", "eval=default", "eval.n_samples=200"])
    results = train(cfg, tmp_path)
    assert results["status"] == "completed" and "modes_captured" in results["metrics"]


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cond")
    run = root / "run"
    result = run_gan("train", *TINY, "data.download=false", "model.conditional=true", "model.g.width=4",
                     "model.d.width=4", f"hydra.run.dir={run}", env={"GAN_DATA_DIR": str(root / "data")})
    assert result.returncode == 0, result.stderr
    return run


def test_sample_one_row_per_class_or_one_class(cond_run, tmp_path):
    rows = run_gan("sample", f"checkpoint={cond_run}", "n=20", f"out={tmp_path / 'rows.png'}")
    assert rows.returncode == 0, rows.stderr
    assert Image.open(tmp_path / "rows.png").size == (2 * 28 + 3 * 2, 10 * 28 + 11 * 2)  # 10 rows of 2
    seven = run_gan("sample", f"checkpoint={cond_run}", "n=4", "label=7", f"out={tmp_path / '7.png'}")
    assert seven.returncode == 0 and Image.open(tmp_path / "7.png").size == (2 * 28 + 3 * 2,) * 2
    bad = run_gan("sample", f"checkpoint={cond_run}", "label=12")
    assert bad.returncode == 2 and "label=12 is not allowed" in bad.stderr


def test_label_on_unconditional_checkpoint(tmp_path):
    run = tmp_path / "run"
    assert run_gan("train", *TINY, "model=mlp", "data=ring8", "data.n_points=200",
                   f"hydra.run.dir={run}").returncode == 0
    result = run_gan("sample", f"checkpoint={run}", "label=3")
    assert result.returncode == 2 and "needs a conditional model" in result.stderr


def test_sweep_compares_conditional_and_unconditional(tmp_path):
    import json
    sweep = tmp_path / "sweep"
    result = run_gan("train", "-m", *TINY, "model=mlp", "data=ring8", "data.n_points=200",
                     "model.conditional=true,false", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    ckpts = [torch.load(sweep / job / "checkpoints" / "last.pt", weights_only=True) for job in "01"]
    assert [c["config"]["model"]["conditional"] for c in ckpts] == [True, False]
    assert all(json.loads((sweep / j / "results.json").read_text())["status"] == "completed" for j in "01")
