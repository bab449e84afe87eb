"""Progressive growing of GANs (Karras et al. 2018), small: G and D grow from the coarsest
resolution to the data's, one doubling per phase, each new block faded in with alpha 0 -> 1.

Sizes are base * 2^n with base 4 (32, 64 px: 4 -> 8 -> 16 -> 32) or 7 (28 px: 7 -> 14 -> 28).
The schedule is a pure function of the training step (phases of `phase_steps` steps each):

    phase 0            stable at base
    phase 2l - 1       fade in level l (resolution base * 2^l), alpha = t / phase_steps
    phase 2l           stable at level l             (l = 1 .. n; then stable at the full size)

The step lives in a buffer (`step`), so checkpoints, the moving average of G and `gan sample`
carry the phase; `follow_step(step)` is called by the gan method before every iteration.
G's output is upsampled (nearest) to the data's size, and D average-pools its input to the
current resolution, so reals are shown downscaled as in the paper, and during a fade both are
interpolated between the two resolutions (the paper does this for reals; here D applies the same
operator to every input, real or fake). Pixelwise feature norm in G, equalised learning rate
everywhere, minibatch standard deviation before D's last block.
"""

import torch
from torch import nn

from gan_cli.errors import ConfigError
from gan_cli.models.equalized import (
    SQRT2,
    EqualConv2d,
    EqualLinear,
    channel_plan,
    down,
    lrelu,
    minibatch_std,
    pixel_norm,
    up,
)
from gan_cli.options import Count, NonNegativeInt

SCHEDULE_TAGS = {"progan_resolution": "progan/resolution", "progan_alpha": "progan/alpha"}


def resolution_plan(size: int, model: str) -> tuple[int, int]:
    """size = base * 2^n with base 4 or 7 and n >= 1: (base, n)."""
    base, n = size, 0
    while base % 2 == 0 and base > 7:
        base, n = base // 2, n + 1
    if base not in (4, 7) or n < 1:
        raise ConfigError(f"model={model} cannot build {size}x{size} images: sizes must be 4*2^n or 7*2^n "
                          "(8, 14, 16, 28, 32, 56, 64, ...)")
    return base, n


def progan_phase(step: int, phase_steps: int, levels: int) -> tuple[int, float]:
    """(level, alpha) at a 1-based step; level 0 is the base resolution, `levels` the data's."""
    k, t = divmod(max(int(step), 1) - 1, phase_steps)
    if k >= 2 * levels:
        return levels, 1.0
    return (k + 1) // 2, (t / phase_steps if k % 2 else 1.0)


class Scheduled(nn.Module):
    """The step buffer and phase shared by ProGAN's G and D."""

    def _schedule(self, size: int, phase_steps: int):
        self.base, self.levels = resolution_plan(size, "progan")
        self.phase_steps = phase_steps
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self._known = (-1, 0)  # (the buffer's version counter, its value): read back only on change

    def step_now(self) -> int:
        """The step buffer as a Python int. Reading a GPU tensor waits for the device, and G and D
        ask at every forward pass: the value is read once per change of the buffer (follow_step,
        a checkpoint's load, the EMA's copy), known by the tensor's in-place version counter."""
        version = self.step._version
        if version != self._known[0]:
            self._known = (version, int(self.step))
        return self._known[1]

    def phase(self) -> tuple[int, float]:
        return progan_phase(self.step_now(), self.phase_steps, self.levels)

    def follow_step(self, step: int) -> dict:
        """Set the phase of training step `step`; its resolution and alpha as stats."""
        self.step.fill_(int(step))
        self._known = (self.step._version, int(step))  # no read back
        level, alpha = self.phase()
        return {"progan_resolution": torch.tensor(float(self.base * 2**level)),
                "progan_alpha": torch.tensor(float(alpha))}


def _block(n_in: int, n_mid: int, n_out: int) -> nn.ModuleList:
    return nn.ModuleList([EqualConv2d(n_in, n_mid, 3), EqualConv2d(n_mid, n_out, 3)])


class ProGANGenerator(Scheduled):
    """z -> pixelnorm -> dense (base x base) -> conv -> [up, conv, conv] per level -> toRGB; every
    conv: LReLU 0.2 then pixelnorm. A new level's RGB fades in over the previous level's, upsampled."""

    conditional, num_classes = False, 0
    schedule_tags = SCHEDULE_TAGS

    def __init__(self, shape, z_dim: int, phase_steps: Count = 500, width: Count = 64,
                 width_max: NonNegativeInt = 0):
        super().__init__()
        self._schedule(shape[-1], phase_steps)
        ch = channel_plan(self.levels, width, width_max)  # ch[l]: channels at level l
        self.z_dim, self.width, self.size = z_dim, ch[0], shape[-1]
        self.dense = EqualLinear(z_dim, ch[0] * self.base**2, gain=SQRT2 / 4)  # the paper's 4x4 "conv"
        self.conv0 = EqualConv2d(ch[0], ch[0], 3)
        self.blocks = nn.ModuleList([_block(ch[i], ch[i + 1], ch[i + 1]) for i in range(self.levels)])
        self.to_rgb = nn.ModuleList([EqualConv2d(c, shape[0], 1, gain=1) for c in ch])

    def forward(self, z, y=None):  # (B, z_dim) -> (B, C, size, size)
        level, alpha = self.phase()
        h = pixel_norm(lrelu(self.dense(pixel_norm(z)).view(-1, self.width, self.base, self.base)))
        h = prev = pixel_norm(lrelu(self.conv0(h)))
        for block in self.blocks[:level]:
            prev, h = h, up(h)
            for conv in block:
                h = pixel_norm(lrelu(conv(h)))
        rgb = self.to_rgb[level](h)
        if alpha < 1:  # fade-in: (1 - alpha) * old block's RGB, upsampled + alpha * new block's
            rgb = torch.lerp(up(self.to_rgb[level - 1](prev)), rgb, alpha)
        scale = 2 ** (self.levels - level)
        return nn.functional.interpolate(rgb, scale_factor=scale, mode="nearest") if scale > 1 else rgb


class ProGANDiscriminator(Scheduled):
    """x -> avg-pool to the current resolution -> fromRGB -> [conv, conv, pool] per level -> minibatch
    std -> conv -> dense -> score (a critic: no sigmoid). The fade mirrors G's; the reals are
    blended by fade_real, which the method calls on them (models.fade_reals)."""

    def __init__(self, shape, z_dim: int, phase_steps: Count = 500, width: Count = 64,
                 width_max: NonNegativeInt = 0):
        super().__init__()
        self._schedule(shape[-1], phase_steps)
        ch = channel_plan(self.levels, width, width_max)
        self.from_rgb = nn.ModuleList([EqualConv2d(shape[0], c, 1) for c in ch])
        # [i]: level i+1 -> i
        self.blocks = nn.ModuleList([_block(ch[i + 1], ch[i + 1], ch[i]) for i in range(self.levels)])
        self.final_conv = EqualConv2d(ch[0] + 1, ch[0], 3)
        self.final_dense = EqualLinear(ch[0] * self.base**2, ch[0])
        self.out = EqualLinear(ch[0], 1, gain=1)

    def fade_real(self, x):  # (B, C, size, size) -> the same, for real images only
        """During a fade-in the reals are interpolated between the two resolutions, as G's output
        already is (Karras et al. 2018, sec. 3); G's fakes are not blended a second time."""
        level, alpha = self.phase()
        if alpha >= 1:
            return x
        scale = 2 ** (self.levels - level)
        low = nn.functional.avg_pool2d(x, scale) if scale > 1 else x
        low = torch.lerp(up(down(low)), low, alpha)
        return nn.functional.interpolate(low, scale_factor=scale, mode="nearest") if scale > 1 else low

    def forward(self, x, y=None):  # (B, C, size, size) -> (B,)
        level, alpha = self.phase()
        scale = 2 ** (self.levels - level)
        x = nn.functional.avg_pool2d(x, scale) if scale > 1 else x
        h = lrelu(self.from_rgb[level](x))
        for i in reversed(range(level)):
            h = down(lrelu(self.blocks[i][1](lrelu(self.blocks[i][0](h)))))
            if i == level - 1 and alpha < 1:
                h = torch.lerp(lrelu(self.from_rgb[level - 1](down(x))), h, alpha)
        h = lrelu(self.final_conv(minibatch_std(h)))
        return self.out(lrelu(self.final_dense(h.flatten(1)))).flatten()


def progan_options(phase_steps: Count = 500):
    """Model-level keys of progan, given to G and D alike (their schedules must agree)."""
