"""progan, stylegan and biggan: train on every image dataset they accept, resume exactly, log the
progressive schedule, and draw truncated, style-mixed and W-interpolated samples."""

import copy

import pytest
import test_config
import torch
from conftest import TINY, compose_train, one_line_error, run_gan
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

from gan_cli.config import validate_sample
from gan_cli.errors import ConfigError
from gan_cli.losses import make_game, wgan_drift_d
from gan_cli.models import build_discriminator, build_generator
from gan_cli.models.biggan import truncated_normal
from gan_cli.models.equalized import channel_plan
from gan_cli.models.progan import ProGANDiscriminator, ProGANGenerator, progan_phase
from gan_cli.models.stylegan import ModulatedConv, StyleGANDiscriminator, StyleGANGenerator
from gan_cli.optimizers import build_optimizer
from gan_cli.run import train
from gan_cli.sample import sample

data_overrides, datasets = test_config.data_overrides, test_config.datasets  # the offline data fixture

SMALL = {"progan": ["model.z_dim=8", "model.g.width=8", "model.d.width=8", "model.g.width_max=16",
                    "model.d.width_max=16"],
         "stylegan": ["model.z_dim=8", "model.g.width=8", "model.d.width=8", "model.g.w_dim=8",
                      "model.g.width_max=16", "model.d.width_max=16",
                      "model.g.mapping_layers=2"],
         "biggan": ["model.z_dim=8", "model.g.width=8", "model.d.width=8", "model.g.embed_dim=4"]}
ACCEPTS = {"progan": ["mnist", "fashion_mnist", "cifar10", "image_folder"],
           "stylegan": ["mnist", "fashion_mnist", "cifar10", "image_folder"],
           "biggan": ["mnist", "fashion_mnist", "cifar10"]}  # labelled data only


def compose_sample(overrides):
    from hydra import compose, initialize_config_dir

    from gan_cli.cli import conf_dir
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("sample", overrides=overrides)


# Each model's paper loss, which `model=<name>` brings (gan_cli/papers.py).
PAPER_LOSS = {"progan": "wgan_gp_drift", "stylegan": "nonsaturating_r1", "biggan": "hinge"}


def tiny(model, data, datasets, extra=()):
    # a constant lr: MNIST's recipe decays it over train.steps, which a resume to more steps stretches
    return compose_train(TINY + data_overrides(data, datasets) + [f"model={model}", "train.threads=1",
                                                                  "train.lr_decay_from=1", *SMALL[model],
                                                                  *extra])


@pytest.mark.parametrize("model,data", [(m, d) for m, ds in ACCEPTS.items() for d in ds])
def test_model_trains_on_every_image_dataset(model, data, datasets, tmp_path):
    results = train(tiny(model, data, datasets), tmp_path / "run")
    assert results["status"] == "completed" and results["steps_done"] == 4
    png = Image.open(tmp_path / "run" / "samples" / "step_000004.png")
    assert png.size[0] > 32  # a grid of images at the data's size


def test_a_model_brings_its_papers_optimizer_and_loss():
    picked = {m: compose_train([f"model={m}"]) for m in PAPER_LOSS}
    assert {m: c.loss.name for m, c in picked.items()} == PAPER_LOSS
    assert picked["progan"].loss.drift == 0.001 and picked["stylegan"].loss.r1_gamma > 0
    # equalised lr: Adam's lr is each step's relative size, so the papers' 1e-3 and 2.5e-3, betas (0, 0.99)
    assert [(c.optim.g.lr, list(c.optim.d.betas)) for c in picked.values()] == [
        (1e-3, [0.0, 0.99]), (2.5e-3, [0.0, 0.99]), (2e-4, [0.0, 0.999])]
    assert compose_train(["data=mnist", "model=progan"]).optim.g.lr == 1e-3  # beats the dataset's recipe
    assert picked["biggan"].train.d_steps == 4  # BigGAN-PyTorch's CIFAR-10 script
    assert compose_train(["model=biggan", "train.d_steps=2"]).train.d_steps == 2


def test_stylegans_d_judges_packs_of_four():
    """Without PacGAN, stylegan's G collapsed to one digit under its paper's game at every setting
    tried (docs/methods/families.md); D on packs of 4 keeps the samples apart. One logit per pack,
    and a pack of four copies of one image reads differently from four different images (the
    other pack moves too, a little: D's minibatch std spans the packs)."""
    cfg = compose_train(["model=stylegan", *SMALL["stylegan"]])
    assert cfg.model.pack == 4 and compose_train(["model=stylegan", "model.pack=1"]).model.pack == 1
    torch.manual_seed(0)
    D = build_discriminator(cfg.model, (1, 28, 28))
    x = torch.randn(8, 1, 28, 28)
    assert D(x).shape == (2,)
    same = torch.cat([x[:1].expand(4, -1, -1, -1), x[4:]])
    assert not torch.allclose(D(same)[0], D(x)[0], atol=0.1)


def test_the_command_line_beats_a_models_paper_settings():
    cfg = compose_train(["model=stylegan", "loss=hinge", "optim.g.lr=5e-4"])
    assert (cfg.loss.name, cfg.optim.g.lr, cfg.optim.d.lr) == ("hinge", 5e-4, 2.5e-3)
    assert compose_train(["model=progan", "optim=adam"]).optim.g.lr == 2e-4
    assert compose_train(["model=dcgan"]).loss.name == "nonsaturating"  # other models: the defaults
    job = run_gan("train", "model=progan", "--cfg", "job")  # through the real CLI, before a flag
    assert job.returncode == 0 and "name: wgan_gp_drift" in job.stdout and "lr: 0.001" in job.stdout


def test_channels_follow_the_papers_rule_fewer_as_the_images_grow():
    assert channel_plan(2, 16, 64) == [64, 32, 16] and channel_plan(3, 16, 32) == [32, 32, 32, 16]
    assert channel_plan(2, 64, 0) == [64, 64, 64]  # 0: one width everywhere (gan-cli 0.1's nets)
    shape = (1, 28, 28)
    sizes = {"width": 16, "width_max": 64}
    pg, pd = ProGANGenerator(shape, 8, **sizes), ProGANDiscriminator(shape, 8, **sizes)
    assert [c.weight.shape[1] for c in pg.to_rgb] == [64, 32, 16] == [c.weight.shape[0] for c in pd.from_rgb]
    sg, sd = StyleGANGenerator(shape, 8, **sizes), StyleGANDiscriminator(shape, 8, **sizes)
    assert [r.conv.weight.shape[1] for r in sg.rgbs] == [64, 32, 16]
    assert sd.final_dense.weight.shape[0] == 64
    z = torch.randn(3, 8)
    for g, d in ((pg, pd), (sg, sd)):
        g.eval()
        assert d(g(z)).shape == (3,) and g(z).shape == (3, *shape)


def test_modulated_conv_equals_the_papers_per_sample_weights():
    torch.manual_seed(0)
    conv, x, w = ModulatedConv(8, 16, 3, 32), torch.randn(4, 8, 10, 10), torch.randn(4, 32)
    with torch.no_grad():
        conv.affine.weight.normal_()  # styles far from 1, so that modulation matters
    weight = conv.scale * conv.weight[None] * conv.affine(w)[:, None, :, None, None]  # (B, out, in, k, k)
    weight = weight * torch.rsqrt(weight.square().sum((2, 3, 4), keepdim=True) + 1e-8)  # StyleGAN2 eq. 3
    paper = torch.cat([torch.nn.functional.conv2d(x[i:i + 1], weight[i], padding=1) for i in range(4)])
    assert torch.allclose(conv(x, w), paper, atol=1e-5)


def test_wgan_gp_drift_by_hand():
    real, fake = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.5])
    # E s(G(z)) - E s(x) = 1.0 - (-0.5) = 1.5; drift: 0.001 * (1 + 4) / 2 = 0.0025
    assert wgan_drift_d(real_logits=real, fake_logits=fake).item() == pytest.approx(1.5025)
    game = make_game(compose_train(["model=progan", "loss=wgan_gp_drift"]).loss)
    assert game.d_loss(real_logits=real, fake_logits=fake).item() == pytest.approx(1.5025)
    assert game.gp_weight == 10.0 and game.critic
    assert make_game(compose_train(["model=progan", "loss=wgan_gp_drift", "loss.drift=0.5"]).loss).d_loss(
        real_logits=real, fake_logits=fake).item() == pytest.approx(1.5 + 0.5 * 2.5)


def test_progan_schedule_is_a_function_of_the_step():
    # 28 px: 7 -> 14 -> 28 (levels 0..2), two steps per phase
    table = [progan_phase(s, 2, 2) for s in range(1, 11)]
    assert table == [(0, 1.0), (0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (1, 1.0), (2, 0.0), (2, 0.5),
                     (2, 1.0), (2, 1.0)]


def test_progan_reads_its_step_back_only_when_the_buffer_changes(monkeypatch):
    """G and D ask for the phase at every forward pass: after follow_step nothing is read back from
    the step buffer (on a GPU each read waits for the device); a loaded or copied step is read once."""
    from gan_cli.models import build_models, follow_step
    G, D = build_models(compose_train(["model=progan", *SMALL["progan"], "model.phase_steps=2"]).model,
                        (1, 28, 28), "cpu")
    G2 = copy.deepcopy(G)
    reads = []
    real_int = torch.Tensor.__int__
    monkeypatch.setattr(torch.Tensor, "__int__", lambda t: reads.append(1) or real_int(t))
    follow_step({"G": G, "D": D}, 4)
    D(G(torch.randn(2, 8)))
    assert reads == [] and G.phase() == (1, 0.5)
    G2.load_state_dict(G.state_dict())  # the EMA copies buffers the same way
    assert G2.phase() == (1, 0.5) and G2.phase() == (1, 0.5) and len(reads) == 1


def test_progan_fades_the_reals_in_and_leaves_g_output_alone():
    """During a fade-in (level 1 of 28 px, alpha 0.5) D's fromRGB sees G's output only pooled to
    the current resolution (G has blended it already), and the reals blended between resolutions."""
    from torch.nn.functional import avg_pool2d, interpolate

    from gan_cli.models import build_models, fade_reals, follow_step
    G, D = build_models(compose_train(["model=progan", *SMALL["progan"], "model.phase_steps=2"]).model,
                        (1, 28, 28), "cpu")
    follow_step({"G": G, "D": D}, 4)
    assert D.phase() == (1, 0.5)
    seen = []
    D.from_rgb[1].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        fake = G(torch.randn(4, 8))
        D(fake)
        real = torch.rand(4, 1, 28, 28) * 2 - 1
        D(fade_reals(D, real))
    low = avg_pool2d(real, 2)  # 14 px
    assert torch.allclose(seen[0], avg_pool2d(fake, 2), atol=1e-6)
    assert torch.allclose(seen[1], torch.lerp(interpolate(avg_pool2d(low, 2), scale_factor=2), low, 0.5),
                          atol=1e-6)


def weights(run):
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)


def assert_same(a, b):
    for net in a["nets"]:
        assert all(torch.equal(a["nets"][net][k], b["nets"][net][k]) for k in a["nets"][net]), net


@pytest.mark.parametrize("model", ["progan", "stylegan", "biggan"])
def test_resume_is_exact(model, datasets, tmp_path):
    """8 steps straight = 4 steps + resume to 8; progan crosses phase boundaries (2 steps a phase)."""
    extra = ["model.phase_steps=2"] if model == "progan" else []
    train(tiny(model, "mnist", datasets, extra + ["train.steps=8"]), tmp_path / "full")
    train(tiny(model, "mnist", datasets, extra + ["train.steps=4"]), tmp_path / "part")
    train(tiny(model, "mnist", datasets, extra + ["train.steps=8", f"train.resume={tmp_path / 'part'}"]),
          tmp_path / "part")
    assert_same(weights(tmp_path / "full"), weights(tmp_path / "part"))
    if model == "progan":  # the schedule in TensorBoard, logged every 2 steps, resumed run included
        acc = EventAccumulator(str(tmp_path / "part"), size_guidance={SCALARS: 0})
        acc.Reload()
        assert [e.value for e in acc.Scalars("progan/resolution")] == [7, 14, 14, 28]
        assert [e.value for e in acc.Scalars("progan/alpha")] == [1, 0.5, 1, 0.5]
        assert int(weights(tmp_path / "part")["nets"]["G"]["step"]) == 8


def test_biggan_refuses_unlabelled_data_and_unconditional(datasets, tmp_path):
    result = run_gan("train", *TINY, *data_overrides("image_folder", datasets), "model=biggan",
                     f"hydra.run.dir={tmp_path / 'run'}")
    one_line_error(result, "model=biggan", "labelled data")
    with pytest.raises(ConfigError, match="model.conditional=false is not allowed for model=biggan"):
        train(tiny("biggan", "mnist", datasets, ["model.conditional=false"]), tmp_path / "r")
    with pytest.raises(ConfigError, match="model.g.attention=20 is not allowed for 28x28 data: one of 7, 14"):
        train(tiny("biggan", "mnist", datasets, ["model.g.attention=20"]), tmp_path / "r2")


def test_biggan_d_spectral_normalises_its_class_embedding_and_g_keeps_its_own_plain():
    """As BigGAN-PyTorch (SNEmbedding in D, nn.Embedding in G): at initialisation the projection
    term <embed(y), h> is then of the order of the linear term, not a random offset per class."""
    from torch.nn.utils import parametrize

    from gan_cli.models import build_models
    G, D = build_models(compose_train(["model=biggan", *SMALL["biggan"]]).model, (1, 28, 28), "cpu", 10)
    assert parametrize.is_parametrized(D.embed, "weight")
    assert not parametrize.is_parametrized(G.shared, "weight")
    with torch.no_grad():
        for _ in range(20):  # power iterations settle the spectral norm estimate
            D(torch.randn(16, 1, 28, 28), torch.arange(16) % 10)
        assert torch.linalg.matrix_norm(D.embed.weight, 2) < 1.1


def test_biggan_d_extra_blocks_keep_the_lowest_resolution():
    """model.d.extra_blocks: BigGAN-PyTorch's 32 px D ends with two blocks that do not pool."""
    from gan_cli.models import build_models
    for extra in (0, 2):
        cfg = compose_train(["model=biggan", *SMALL["biggan"], f"model.d.extra_blocks={extra}"])
        _, D = build_models(cfg.model, (1, 28, 28), "cpu", 10)
        sizes, h = [], torch.randn(2, 1, 28, 28)
        for block in D.blocks:
            h = block(h)
            sizes.append(h.shape[-1])
        assert sizes == [14, 7, 7, 7][:2 + extra]
        assert [type(b.skip).__name__ for b in D.blocks][2:] == ["Identity"] * extra
        assert D(torch.randn(2, 1, 28, 28), torch.arange(2)).shape == (2,)
    from gan_cli.models import with_added_keys  # a checkpoint from before the key rebuilds its old D
    assert with_added_keys({"name": "biggan", "d": {"width": 8}})["d"]["extra_blocks"] == 0


def test_biggan_truncation_and_orthogonal_regularisation():
    z = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    t = truncated_normal(z, 0.5)  # |z| <= sqrt(2) erfinv(0.5) = 0.674
    assert t.abs().max() <= 0.6745 and torch.equal(t, truncated_normal(z, 0.5))
    assert torch.equal(truncated_normal(z, 1.0), z) and not torch.equal(t, z)
    cfg = compose_train(["model=biggan", *SMALL["biggan"], "model.g.spectral_norm=false"]).model
    grads = {}
    for beta in (0.0, 0.01):
        torch.manual_seed(0)
        G = build_generator(compose_train(["model=biggan", *SMALL["biggan"], "model.g.spectral_norm=false",
                                           f"model.g.ortho={beta}"]).model, (1, 28, 28), 10)
        G(torch.randn(4, 8), torch.arange(4)).square().mean().backward()
        grads[beta] = G.dense.weight.grad.clone()
    w = G.dense.weight.detach()
    off = (w @ w.T) * (1 - torch.eye(len(w)))  # BigGAN: beta * 2 (W W^T * (1 - I)) W
    assert torch.allclose(grads[0.01] - grads[0.0], 0.01 * 2 * off @ w, atol=1e-6)
    assert cfg.g.ortho == 0.0


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny stylegan, biggan and dcgan runs on the offline digits (data.download=false)."""
    root = tmp_path_factory.mktemp("gen")
    runs = {}
    for model, extra in (("stylegan", [*SMALL["stylegan"], "loss=nonsaturating_r1"]),
                         ("biggan", [*SMALL["biggan"], "loss=hinge"]),
                         ("dcgan", ["model.g.width=4", "model.d.width=4"])):
        cfg = compose_train(TINY + ["data=mnist", "data.download=false", f"paths.data_dir={root / 'data'}",
                                    f"model={model}", "train.threads=1", *extra])
        train(cfg, root / model)
        runs[model] = root / model
    return runs


def test_truncation_style_mix_and_w_interpolation_write_pngs(checkpoints, tmp_path):
    out = {name: tmp_path / f"{name}.png" for name in ("mix", "trunc", "full", "interp", "big", "big1")}
    s = checkpoints["stylegan"]
    result = run_gan("sample", f"checkpoint={s}", f"out={out['mix']}", "device=cpu", "mode=style_mix",
                     "seeds=[0,1]", "mix_seeds=[2,3,4]", "truncation=0.7")  # the real CLI, once
    assert result.returncode == 0 and f"wrote {out['mix']}" in result.stdout, result.stderr
    mix = Image.open(out["mix"])
    assert mix.size[0] > mix.size[1]  # 3 rows of 4 cells: wider than tall
    options = {"seeds": [0, 1], "steps": 3, "truncation": 0.5}
    sample(s, n=4, out=out["trunc"], device="cpu", options=options)
    sample(s, n=4, out=out["full"], device="cpu")
    sample(s, out=out["interp"], device="cpu", mode="interpolate", options=options)
    assert Image.open(out["trunc"]).tobytes() != Image.open(out["full"]).tobytes()
    assert Image.open(out["interp"]).size[0] > Image.open(out["interp"]).size[1]  # 2 strips of 3
    sample(checkpoints["biggan"], n=20, out=out["big"], device="cpu", options=options)
    sample(checkpoints["biggan"], n=20, out=out["big1"], device="cpu")
    assert Image.open(out["big"]).tobytes() != Image.open(out["big1"]).tobytes()


def test_stylegan_truncation_to_zero_draws_the_mean_w(checkpoints):
    from gan_cli import rundir
    from gan_cli.rundir import read_checkpoint
    from gan_cli.styles import style_mix_grid
    _, nets = rundir.rebuild(read_checkpoint(checkpoints["stylegan"]), "cpu")
    G = nets["G"]
    G.psi = 1e-9
    with torch.no_grad():
        x = G(torch.randn(3, G.z_dim))
    assert torch.allclose(x[0], x[1], atol=1e-4) and torch.allclose(x[0], x[2], atol=1e-4)
    G.psi = 1.0
    grid = style_mix_grid(G, [0, 1], [2, 3, 4], "cpu")
    assert grid.shape[0] == 3


def test_truncation_and_style_mix_refused_on_other_models(checkpoints, tmp_path):
    d = checkpoints["dcgan"]
    one_line_error(run_gan("sample", f"checkpoint={d}", "mode=style_mix", f"out={tmp_path / 'a.png'}"),
                   "mode=style_mix", "model=stylegan", "dcgan")
    with pytest.raises(ConfigError, match="truncation=0.5 needs model=stylegan or model=biggan; this "
                                          "checkpoint's model is dcgan"):
        sample(d, out=tmp_path / "b.png", device="cpu", options={"truncation": 0.5})
    bad = compose_sample([f"checkpoint={d}", "truncation=1.5"])
    with pytest.raises(ConfigError, match=r"truncation=1.5 is not allowed: psi in \(0, 1\]"):
        validate_sample(bad)


def test_conditional_progan_follows_the_schedule(datasets, tmp_path):
    """model.conditional=true wraps G and D; the schedule still reaches them (step 4: 14 px, fading)."""
    cfg = tiny("progan", "mnist", datasets, ["model.conditional=true", "model.phase_steps=2"])
    results = train(cfg, tmp_path / "run")
    assert results["final"]["progan_resolution"] == 14 and results["final"]["progan_alpha"] == 0.5


def test_lazy_r1_takes_stylegan2s_adam_correction(datasets, tmp_path):
    """R1 on every k-th D step at k times the weight: D's lr x k/(k+1), betas^(k/(k+1)); G as given."""
    from gan_cli.rundir import read_checkpoint

    train(tiny("stylegan", "mnist", datasets, ["loss.r1_every=4"]), tmp_path / "run")
    groups = {net: read_checkpoint(tmp_path / "run")["opts"][net]["param_groups"][0] for net in ("g", "d")}
    assert groups["g"]["lr"] == 2.5e-3 and tuple(groups["g"]["betas"]) == (0.0, 0.99)
    assert groups["d"]["lr"] == pytest.approx(2.5e-3 * 4 / 5)
    assert tuple(groups["d"]["betas"]) == pytest.approx((0.0, 0.99 ** 0.8))
    plain = build_optimizer(compose_train(["model=stylegan"]).optim.d, [torch.zeros(1, requires_grad=True)],
                            "optim.d", lazy_every=1)
    assert plain.param_groups[0]["lr"] == 2.5e-3
