"""StackGAN (Zhang et al. 2017), small: text -> Stage I (half size) -> Stage II (the data's size).

    text encoder (in D): tokens (B, L) -> embedding e (B, emb_dim), a GRU or an MLP over the
                 words at their places (model.d.text)
    conditioning augmentation: FC(e) -> mu, log sigma^2 (c_dim each); c = mu + sigma * eps;
                               KL(N(mu, sigma^2) || N(0, I)) = -1/2 mean(1 + log sigma^2 - mu^2 - sigma^2)
                               (model.g.ca=false, the default: c = mu, no KL)
    G_I:  [z, c1] -> FC -> (4w, S/16, S/16) -> 3 x (nearest x2, conv 3x3, BN, ReLU) -> conv -> tanh: S/2
    G_II: G_I's image (detached) -> stride-2 convs to S/8 -> [h, c2 replicated] -> conv -> 2 residual
          blocks -> 3 x (nearest x2, conv, BN, ReLU) -> conv -> tanh: S (no z, as the paper)
          (model.g.residual=true: tanh(G_I's pre-tanh image upsampled + that conv, zero at the start))
    D_I, D_II: strided 4x4 convs down to 4x4 (LReLU; BN after the first), then the embedding
          compressed (FC + LReLU) and replicated 4x4, concatenated, conv 3x3, conv 4x4 -> logit;
          with method.digit_weight > 0 also conv 4x4 on the 4x4 features -> digit logits (2, 11)

G and D each hold both stages; `stage` (a buffer, set by follow_step from the training step) says
which one runs: stage 1 trains G_I and D_I on half-size images (the data average-pooled),
stage 2 trains G_II and D_II with G_I frozen. G's output is always the data's size (Stage I's
image upsampled), so grids and metrics read either stage alike.
"""

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.captions import VOCAB
from gan_cli.errors import ConfigError
from gan_cli.options import Choice, Count, Range


def stackgan_options(stage1_steps: Count = 5000, stages: Annotated[int, Range(1, 2)] = 2):
    """Model-level keys given to G and D alike (their stages must agree). stages=1: the one-stage
    baseline, Stage I drawing the data's size directly (the issue's conditional GAN on the
    caption embedding, to show what the second stage buys)."""


def _up(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                         nn.Conv2d(n_in, n_out, 3, 1, 1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU(True))


def _down(n_in: int, n_out: int, norm: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(n_in, n_out, 4, 2, 1, bias=not norm),
                         *([nn.BatchNorm2d(n_out)] if norm else []), nn.LeakyReLU(0.2, True))


class Residual(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n, n, 3, 1, 1, bias=False), nn.BatchNorm2d(n), nn.ReLU(True),
                                  nn.Conv2d(n, n, 3, 1, 1, bias=False), nn.BatchNorm2d(n))

    def forward(self, x):
        return F.relu(x + self.body(x))


class Augmentation(nn.Module):
    """Conditioning augmentation: e -> (c, KL) with c = mu + sigma * eps in training (no ReLU on
    log sigma^2, unlike StackGAN-Pytorch, which forced sigma >= 1); c = mu in eval mode, so that
    samples and metrics draw no random numbers beyond their seeded z (and resume stays exact).
    sample=False (model.g.ca=false, the paper's ablation): c = mu always, and no KL."""

    def __init__(self, emb_dim: int, c_dim: int, sample: bool = True):
        super().__init__()
        self.fc, self.sample = nn.Linear(emb_dim, 2 * c_dim), sample

    def forward(self, e):  # (B, emb_dim) -> (B, c_dim), 0-d KL
        mu, logvar = self.fc(e).chunk(2, 1)
        if not self.sample:
            return mu, mu.new_zeros(())
        c = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return c, -0.5 * torch.mean(1 + logvar - mu.square() - logvar.exp())


class Staged(nn.Module):
    """The stage buffer shared by G and D: 1 until stage1_steps, then 2 (a function of the step)."""

    def _stages(self, shape, stage1_steps: int, stages: int):
        if shape[-1] % 16 or shape[-1] < 32:
            raise ConfigError(f"model=stackgan draws images whose size is a multiple of 16, at least 32 "
                              f"(data=mnist_captions: 64); this data's is {shape[-1]}")
        self.stage1_steps, self.stages = stage1_steps, stages
        self.register_buffer("stage", torch.ones((), dtype=torch.long))
        self._known = (-1, 1)  # (the buffer's version, its value): read the buffer back only when it changed

    def current(self) -> int:
        """The stage as a Python int, without a device sync per forward (only after a load or a fill)."""
        version = self.stage._version
        if version != self._known[0]:
            self._known = (version, int(self.stage))
        return self._known[1]

    def follow_step(self, step: int) -> dict:
        stage = 1 if step <= self.stage1_steps or self.stages == 1 else 2
        self.stage.fill_(stage)
        self._known = (self.stage._version, stage)  # no read back
        return {"stackgan_stage": torch.tensor(float(stage))}


class StackGenerator(Staged):
    conditional, num_classes = False, 0
    captioned = True  # G(z, e): e is the caption's embedding (from D's text encoder)
    schedule_tags = {"stackgan_stage": "stackgan/stage"}

    def __init__(self, shape, z_dim: int, stage1_steps: Count = 5000, width: Count = 32,
                 emb_dim: Count = 64, c_dim: Count = 32, stages: int = 2, ca: bool = True,
                 residual: bool = False):
        super().__init__()
        self._stages(shape, stage1_steps, stages)
        s, ch, w = shape[-1], shape[0], width
        self.z_dim, self.base = z_dim, s // 16
        self.ca1, self.ca2 = Augmentation(emb_dim, c_dim, ca), Augmentation(emb_dim, c_dim, ca)
        self.fc = nn.Sequential(nn.Linear(z_dim + c_dim, 4 * w * self.base**2, bias=False),
                                nn.BatchNorm1d(4 * w * self.base**2), nn.ReLU(True))
        ups = [_up(4 * w, 2 * w), _up(2 * w, w), _up(w, w), *([_up(w, w)] if stages == 1 else [])]
        self.stage1 = nn.Sequential(*ups, nn.Conv2d(w, ch, 3, 1, 1))  # S/16 -> S/2 (one stage: S), pre-tanh
        self.encode = nn.Sequential(nn.Conv2d(ch, w, 3, 1, 1), nn.ReLU(True), _down(w, 2 * w),
                                    _down(2 * w, 4 * w))                           # S/2 -> S/8
        self.join = nn.Sequential(nn.Conv2d(4 * w + c_dim, 4 * w, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(4 * w), nn.ReLU(True), Residual(4 * w), Residual(4 * w))
        self.stage2 = nn.Sequential(_up(4 * w, 2 * w), _up(2 * w, w), _up(w, w),
                                    nn.Conv2d(w, ch, 3, 1, 1))                   # S/8 -> S, pre-tanh
        self.residual = residual
        if residual:  # Stage II starts as Stage I's image upsampled: its residual starts at 0
            nn.init.zeros_(self.stage2[-1].weight)
            nn.init.zeros_(self.stage2[-1].bias)

    def first(self, z, e):  # -> Stage I's pre-tanh image (B, C, S/2, S/2), KL
        c, kl = self.ca1(e)
        h = self.fc(torch.cat([z, c], 1)).view(len(z), -1, self.base, self.base)
        return self.stage1(h), kl

    def second(self, low, e):  # Stage I's pre-tanh image -> Stage II's (B, C, S, S), KL
        """tanh(stage2(...)), or with model.g.residual tanh(up(low) + stage2(...)): a residual on
        Stage I's image (nearest upsampling commutes with tanh), so Stage II starts where Stage I is."""
        c, kl = self.ca2(e)
        h = self.encode(torch.tanh(low))
        h = self.join(torch.cat([h, c[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1))
        out = self.stage2(h)
        if self.residual:
            out = out + F.interpolate(low, scale_factor=2, mode="nearest")
        return torch.tanh(out), kl

    def images(self, z, e, stage: int):  # -> the stage's image at the data's size, its KL
        if stage == 1:
            low, kl = self.first(z, e)
            low = torch.tanh(low)
            return (low if self.stages == 1 else F.interpolate(low, scale_factor=2, mode="nearest")), kl
        frozen, was = (self.ca1, self.fc, self.stage1), self.training
        with torch.no_grad():  # Stage I frozen: no gradient, its batchnorm statistics kept, c = mu
            for module in frozen:
                module.eval()
            low = self.first(z, e)[0]
            for module in frozen:
                module.train(was)
        return self.second(low, e)

    def generate(self, z, e):  # -> this training stage's image, its KL
        return self.images(z, e, self.current())

    def forward(self, z, e):
        return self.generate(z, e)[0]


class TextEncoder(nn.Module):
    """tokens (B, L) -> word embeddings -> GRU -> last state -> FC: (B, emb_dim)."""

    def __init__(self, emb_dim: int, words: int = 32, hidden: int = 64):
        super().__init__()
        self.words = nn.Embedding(len(VOCAB), words, padding_idx=0)
        self.gru = nn.GRU(words, hidden, batch_first=True)
        self.out = nn.Linear(hidden, emb_dim)

    def forward(self, tokens):
        return self.out(self.gru(self.words(tokens))[1][0])


class PlacedWords(nn.Module):
    """tokens (B, L) -> a word embedding at each of the caption's 12 places -> flattened -> FC,
    ReLU, FC: (B, emb_dim). Unlike the GRU it sees every place at once, so a new combination of
    seen words at seen places still lands near what they mean: pretrained to name each box's
    digit, it names every box of 0.95 of the held-out captions, the GRU of 0.12-0.25
    (docs/methods/stackgan.md). Shorter token lists are padded. dropout: on the placed words, for
    pretraining only."""

    def __init__(self, emb_dim: int, words: int = 16, hidden: int = 512, length: int = 12):
        super().__init__()
        self.words, self.length = nn.Embedding(len(VOCAB), words, padding_idx=0), length
        self.hidden, self.out = nn.Linear(length * words, hidden), nn.Linear(hidden, emb_dim)

    def forward(self, tokens, dropout: float = 0.0):
        tokens = F.pad(tokens, (0, self.length - tokens.shape[1]))[:, :self.length]
        h = F.dropout(self.words(tokens).flatten(1), dropout, training=dropout > 0)
        return self.out(F.relu(self.hidden(h)))


TEXT_ENCODERS = {"gru": TextEncoder, "mlp": PlacedWords}  # model.d.text


class _StageD(nn.Module):
    def __init__(self, ch: int, size: int, w: int, emb_dim: int, c_dim: int, digit_head: bool):
        super().__init__()
        layers, n = [_down(ch, w, norm=False)], w
        while size // 2 > 4:
            size //= 2
            layers.append(_down(n, min(2 * n, 8 * w)))
            n = min(2 * n, 8 * w)
        self.body, self.compress = nn.Sequential(*layers), nn.Sequential(nn.Linear(emb_dim, c_dim),
                                                                           nn.LeakyReLU(0.2, True))
        self.head = nn.Sequential(nn.Conv2d(n + c_dim, n, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(n, 1, 4))
        # the digits in reading order from the image alone: 2 slots x (10 digits + none)
        self.digits = nn.Conv2d(n, 2 * 11, 4) if digit_head else None

    def judge(self, x, e):  # (B, C, s, s), (B, emb_dim) -> logits (B,), digit logits (B, 2, 11) or None
        h = self.body(x)
        t = self.compress(e)[:, :, None, None].expand(-1, -1, *h.shape[2:])
        digits = None if self.digits is None else self.digits(h).view(len(x), 2, 11)
        return self.head(torch.cat([h, t], 1)).flatten(), digits


class StackDiscriminator(Staged):
    """D_I and D_II, each matching-aware (the image with the caption's embedding), and the text
    encoder (text: TEXT_ENCODERS' name; pretrained and fixed, or trained with D). digit_head
    (method.digit_weight > 0): each stage's D also reads the picture's digits, as TAC-GAN's
    auxiliary classifier."""

    def __init__(self, shape, z_dim: int, stage1_steps: Count = 5000, width: Count = 32,
                 emb_dim: Count = 64, c_dim: Count = 32, stages: int = 2, digit_head: bool = False,
                 text: Annotated[str, Choice(tuple(TEXT_ENCODERS))] = "gru"):
        super().__init__()
        self._stages(shape, stage1_steps, stages)
        self.text = TEXT_ENCODERS[text](emb_dim)
        half = shape[-1] // stages  # two stages: Stage I at half size
        self.d1 = _StageD(shape[0], half, width, emb_dim, c_dim, digit_head)
        self.d2 = _StageD(shape[0], shape[-1], width, emb_dim, c_dim, digit_head)

    def judge(self, x, e):  # the data's size; stage 1 judges it average-pooled to half
        if self.current() == 1:
            return self.d1.judge(F.avg_pool2d(x, 2) if self.stages == 2 else x, e)
        return self.d2.judge(x, e)

    def forward(self, x, e):
        return self.judge(x, e)[0]
