"""Unpaired image-to-image translation: CycleGAN (Zhu et al. 2017), and DiscoGAN (Kim et al. 2017)
as the same two-domain game with other settings (conf/method/{cyclegan,discogan}.yaml).

G_AB: A -> B and G_BA: B -> A; D_A judges images of A, D_B images of B. Each iteration draws
a ~ A and b ~ B independently (unpaired) and does

    G step (D_A, D_B fixed), one optimizer for both Gs:
        adversarial   2 J_G(D_B(G_AB(a))) + 2 J_G(D_A(G_BA(b)))
        cycle         lambda_cyc (d(G_BA(G_AB(a)), a) + d(G_AB(G_BA(b)), b))     d: L1 or squared
        identity      lambda_idt lambda_cyc (|G_BA(a) - a|_1 + |G_AB(b) - b|_1)
    D step, one optimizer for both Ds:
        J_D(D_A(a), D_A(pool_A(G_BA(b)))) + J_D(D_B(b), D_B(pool_B(G_AB(a))))

J_G and J_D are the loss config's (gan_cli/losses.py). gan-cli's J_G carries the NIPS tutorial's
1/2 (lsgan: 1/2 E (s - 1)^2, nonsaturating: 1/2 BCE); the factor 2 gives the papers' terms,
E (D(G(x)) - 1)^2 (CycleGAN) and the full cross-entropy (DiscoGAN), so lambda_cyc weighs the
cycle against the adversarial terms as in the papers. CycleGAN's J_D = 1/2 (MSE real + MSE
fake) is gan-cli's lsgan J_D as it stands. The pools hold 50 earlier fakes (pool_size);
the learning rate is constant, then falls linearly to 0 (decay_from), recomputed from the step
number at every step, so a resumed run follows the same schedule exactly.
"""

import inspect
from contextlib import contextmanager
from itertools import chain
from typing import Annotated

import torch
from torch import nn

from gan_cli.augment import build_augment, seen
from gan_cli.errors import ConfigError
from gan_cli.health import diversity, verdict
from gan_cli.images import image_grid
from gan_cli.losses import make_game
from gan_cli.models import build_translators
from gan_cli.optimizers import build_optimizer, lr_factor, scale_lr
from gan_cli.options import NonNegative, Range, check_options, plain
from gan_cli.precision import Precision
from gan_cli.translate_sample import TRANSLATE_MODES

DISTANCES = {"l1": lambda x, y: (x - y).abs().mean(),        # CycleGAN
             "l2": lambda x, y: (x - y).square().mean()}     # DiscoGAN (MSE)


def translation_settings(lambda_cyc: NonNegative = 10.0, lambda_idt: NonNegative = 0.5,
                         cycle_distance: str = "l1", pool_size: Annotated[int, Range(0)] = 50,
                         decay_from: Annotated[float, Range(0, 1)] = 0.5):
    """The method.* keys of a two-domain method (their types and ranges, for check_options)."""


def method_settings(method_cfg) -> dict:
    """method.* checked against translation_settings, with the defaults filled in."""
    given = {k: v for k, v in plain(method_cfg).items() if k != "name"}
    defaults = {k: p.default for k, p in inspect.signature(translation_settings).parameters.items()}
    settings = {**defaults, **check_options(translation_settings, given, "method")}
    if settings["cycle_distance"] not in DISTANCES:
        raise ConfigError(f"method.cycle_distance={settings['cycle_distance']} is not allowed: "
                          f"one of {', '.join(DISTANCES)}")
    return settings


class ImagePool(nn.Module):
    """Shrivastava et al. 2017, as CycleGAN uses it: D sees a fake from the last `size` generated
    ones half of the time once the pool is full. Buffers, so that checkpoints keep the pool and a
    resumed run is exact. Draws from torch's global RNG (also checkpointed)."""

    def __init__(self, size: int, shape):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))   # (size, C, H, W)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self.full = False  # known full: count is no longer read (a GPU read waits for the device)
        self.register_load_state_dict_post_hook(lambda module, keys: setattr(module, "full", False))

    @torch.no_grad()
    def forward(self, fake: torch.Tensor) -> torch.Tensor:
        """The reference's per-image rule, a batch at a time: while the pool fills, each fake is
        stored and shown; once full, each is swapped with a random stored one with probability 1/2.
        A slot drawn twice in one batch shows its pre-batch image both times and keeps the later
        fake. One host read per batch (how full the pool is) while filling, none once full."""
        out = fake.clone()
        free = 0 if self.full else self.size - min(int(self.count), self.size)
        n = min(free, len(fake))
        if n:
            self.images[self.size - free:self.size - free + n] = fake[:n]
            self.count += n
        self.full = free <= n
        rest = len(fake) - n
        if rest == 0:
            return out
        swap = torch.rand(rest, device=fake.device) < 0.5
        slot = torch.randint(self.size, (rest,), device=fake.device)
        i = torch.arange(n, len(fake), device=fake.device)[swap]
        slot = slot[swap]
        out[i] = self.images[slot]  # what each slot held before this batch ...
        self.images[slot] = fake[i]  # ... then the new fakes (the last write to a slot wins)
        return out


@contextmanager
def evaluating(*nets):
    """Nets in eval mode inside the block (batchnorm uses its running statistics), then back."""
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        yield
    finally:
        for net, mode in zip(nets, modes):
            net.train(mode)


def rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 1 or 3, H, W) -> (B, 3, H, W), so both domains share one grid."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class CycleGAN:
    """Two domains, two G, two D. method=cyclegan and method=discogan differ only in their settings."""

    averaged = ("G_AB", "G_BA")   # train.ema averages both generators
    no_compile: dict = {}         # every network compiles (the pools have no parameters: left alone)
    sample_modes = TRANSLATE_MODES  # gan sample mode=translate input=... direction=a2b|b2a

    def __init__(self, cfg, info: dict, device):
        self.info, self.settings = info, method_settings(cfg.method)
        self.game = make_game(cfg.loss)
        if self.game.gp_weight or self.game.clip or self.game.r1_gamma:
            raise ConfigError(f"loss={cfg.loss.name} is not allowed with method={cfg.method.name}: "
                              "lsgan | nonsaturating | minimax | hinge, without r1_gamma")
        if int(cfg.train.d_steps) != 1:
            raise ConfigError(f"train.d_steps={cfg.train.d_steps} is not allowed with "
                              f"method={cfg.method.name}: 1 (one D step per G step, as in the paper)")
        a, b = info["shape_a"], info["shape_b"]
        if self.settings["lambda_idt"] and a[0] != b[0]:
            raise ConfigError(f"method.lambda_idt={self.settings['lambda_idt']} needs both domains to have "
                              f"the same channels (A: {a[0]}, B: {b[0]}): set method.lambda_idt=0")
        self.nets = build_translators(cfg.model, a, b, device)
        if self.settings["pool_size"]:
            self.nets["pool_A"] = ImagePool(self.settings["pool_size"], a).to(device)
            self.nets["pool_B"] = ImagePool(self.settings["pool_size"], b).to(device)
        # train.augment: what each D sees; one module per D, since ADA's p follows each D's own signal
        self.augment = {d: build_augment(cfg.train) for d in ("A", "B")}
        for d, augment in self.augment.items():
            if augment is not None:
                self.nets[f"augment_{d}"] = augment.to(device)
        n = self.nets
        self.opts = {"g": build_optimizer(cfg.optim.g, chain(n["G_AB"].parameters(), n["G_BA"].parameters()),
                                          "optim.g"),
                     "d": build_optimizer(cfg.optim.d, chain(n["D_A"].parameters(), n["D_B"].parameters()),
                                          "optim.d")}
        self.base_lr = {name: [g["lr"] for g in opt.param_groups] for name, opt in self.opts.items()}
        self.batch_size, self.total = int(cfg.train.batch_size), int(cfg.train.steps)
        self.amp = Precision(cfg.train.get("precision", "fp32"), device)
        self.tags = {"loss_G_AB": "loss/G_AB", "loss_G_BA": "loss/G_BA", "loss_D_A": "loss/D_A",
                     "loss_D_B": "loss/D_B", "cycle_A": "loss/cycle_A", "cycle_B": "loss/cycle_B",
                     "idt_A": "loss/idt_A", "idt_B": "loss/idt_B", "loss_G": "loss/G", "lr": "train/lr",
                     "augment_p_A": "augment/p_A", "augment_p_B": "augment/p_B",
                     "augment_signal_A": "augment/signal_A", "augment_signal_B": "augment/signal_B"}

    @staticmethod
    def info(data) -> dict:
        """The two domains' image shapes, recorded in every checkpoint."""
        from gan_cli.domains import Domains

        if not isinstance(data, Domains):
            raise ConfigError(f"{data.source} is one dataset; the two-domain methods need two: "
                              "data=digits2mnist | mnist2inverted | unpaired")
        return {"shape": list(data.a.shape), "shape_a": list(data.a.shape), "shape_b": list(data.b.shape),
                "source": data.source, "paired_test": data.paired_test}

    def set_lr(self, step: int) -> float:
        """Every optimizer's learning rate for this step, from its configured value."""
        factor = lr_factor(step, self.total, self.settings["decay_from"])
        scale_lr(self.opts, self.base_lr, factor)
        return self.base_lr["g"][0] * factor

    def g_step(self, a: torch.Tensor, b: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """Both Gs on adversarial + cycle (+ identity) costs with both Ds fixed; returns the stats
        (unweighted terms, and loss_G the weighted total) and the fakes for the D step."""
        G_AB, G_BA, D_A, D_B = (self.nets[k] for k in ("G_AB", "G_BA", "D_A", "D_B"))
        s, dist = self.settings, DISTANCES[self.settings["cycle_distance"]]
        D_A.requires_grad_(False)
        D_B.requires_grad_(False)
        with self.amp.autocast():
            fake_b, fake_a = G_AB(a), G_BA(b)
            seen_a, seen_b = seen(self.augment["A"], fake_a), seen(self.augment["B"], fake_b)
            stats = {"loss_G_AB": 2 * self.game.g_loss(fake_logits=D_B(seen_b).float()),  # the paper's scale
                     "loss_G_BA": 2 * self.game.g_loss(fake_logits=D_A(seen_a).float()),
                     "cycle_A": dist(G_BA(fake_b).float(), a), "cycle_B": dist(G_AB(fake_a).float(), b)}
            total = stats["loss_G_AB"] + stats["loss_G_BA"] \
                + s["lambda_cyc"] * (stats["cycle_A"] + stats["cycle_B"])
            if s["lambda_idt"]:  # a G fed an image of its own target domain should leave it alone
                stats["idt_A"] = (G_BA(a).float() - a).abs().mean()
                stats["idt_B"] = (G_AB(b).float() - b).abs().mean()
                total = total + s["lambda_idt"] * s["lambda_cyc"] * (stats["idt_A"] + stats["idt_B"])
        self.amp.minimize(total, self.opts["g"])
        D_A.requires_grad_(True)
        D_B.requires_grad_(True)
        return {**{k: v.detach() for k, v in stats.items()}, "loss_G": total.detach()}, \
            fake_a.detach(), fake_b.detach()

    def d_step(self, a, b, fake_a, fake_b, it: int = 0) -> dict:
        """Both Ds on J_D: real images against fakes from the pools (fresh ones without a pool)."""
        if self.settings["pool_size"]:
            fake_a, fake_b = self.nets["pool_A"](fake_a), self.nets["pool_B"](fake_b)
        D_A, D_B, aug = self.nets["D_A"], self.nets["D_B"], self.augment
        with self.amp.autocast():
            real_a, real_b = D_A(seen(aug["A"], a)).float(), D_B(seen(aug["B"], b)).float()
            loss_a = self.game.d_loss(real_logits=real_a, fake_logits=D_A(seen(aug["A"], fake_a)).float())
            loss_b = self.game.d_loss(real_logits=real_b, fake_logits=D_B(seen(aug["B"], fake_b)).float())
        self.amp.minimize(loss_a + loss_b, self.opts["d"])
        stats = {"loss_D_A": loss_a.detach(), "loss_D_B": loss_b.detach()}
        for d, real_logits in (("A", real_a), ("B", real_b)):
            if aug[d] is not None:  # ADA: each D's overfitting signal moves its own p
                aug[d].observe(real_logits.detach(), it)
                stats.update({f"{k}_{d}": v for k, v in aug[d].stats().items()})
        return stats

    def step(self, data, it: int) -> dict:
        """One iteration: the G step first (Ds fixed), then the D step, as in the reference code."""
        lr = self.set_lr(it)
        a, b = data.a.sample(self.batch_size), data.b.sample(self.batch_size)
        stats, fake_a, fake_b = self.g_step(a, b)
        stats.update(self.d_step(a, b, fake_a, fake_b, it))
        self.amp.update()  # fp16: the loss scale adjusts once per iteration
        return {**stats, "lr": torch.tensor(lr)}

    def status(self, stats: dict) -> str:
        return (f"D_A {stats['loss_D_A']:.3f}  D_B {stats['loss_D_B']:.3f}  G_AB {stats['loss_G_AB']:.3f}  "
                f"G_BA {stats['loss_G_BA']:.3f}  cyc {stats['cycle_A'] + stats['cycle_B']:.3f}")

    def probe(self, data, n: int, seed: int) -> dict:
        """Fixed test images of each domain for the grid (min(n, 8) per row) and 64 for diagnostics."""
        gen = torch.Generator().manual_seed(seed)

        def rows(domain, k):
            pick = torch.randperm(len(domain.test), generator=gen)[:k].to(domain.test.device)
            return domain.images.batch(domain.test[pick])
        return {"a": rows(data.a, min(n, 8)), "b": rows(data.b, min(n, 8)),
                "a_div": rows(data.a, 64), "b_div": rows(data.b, 64)}

    @torch.no_grad()
    def show(self, nets: dict, probe: dict, data) -> torch.Tensor:
        """Rows a, G_AB(a), G_BA(G_AB(a)), then b, G_BA(b), G_AB(G_BA(b)), in eval mode."""
        G_AB, G_BA = nets["G_AB"], nets["G_BA"]
        with evaluating(G_AB, G_BA):
            ab, ba = G_AB(probe["a"]), G_BA(probe["b"])
            rows = [probe["a"], ab, G_BA(ab), probe["b"], ba, G_AB(ba)]
        return image_grid(torch.cat([rgb(r) for r in rows]), nrow=len(probe["a"]))

    @torch.no_grad()
    def diagnostics(self, nets: dict, probe: dict) -> dict:
        """Translation diversity per direction: translated images' spread over the target domain's
        (~1: as diverse as real images; ~0: every input maps to the same output)."""
        with evaluating(nets["G_AB"], nets["G_BA"]):
            return {"diversity_a2b": diversity(nets["G_AB"](probe["a_div"]), probe["b_div"]),
                    "diversity_b2a": diversity(nets["G_BA"](probe["b_div"]), probe["a_div"])}

    def pretrain(self, data, cache_dir) -> None:
        """Nothing is set up before step 1 (the methods' interface, gan_cli/methods/__init__.py)."""

    def evaluator(self, data, eval_cfg, cache_dir):
        """Label preservation, classifier FID, cycle and true-translation errors (translate_eval.py)."""
        from gan_cli.translate_eval import make_translation_evaluator
        return make_translation_evaluator(data, eval_cfg, cache_dir)

    def snapshot(self, nets: dict, data, seed: int = 0) -> dict:
        """The diversity diagnostics of one checkpoint (gan eval)."""
        return {"step": 0, **self.diagnostics(nets, self.probe(data, 8, seed))}

    def verdict(self, history: list, evals: list, diverged_at=None, streak_min: int = 3) -> list:
        """Divergence, and collapse when either direction's diversity stays low."""
        worst = [{**e, "diversity": min(e["diversity_a2b"], e["diversity_b2a"])} for e in history]
        found = verdict(worst, evals, diverged_at, critic=True, streak_min=streak_min)
        return [{**f, "evidence": "no failure mode detected (divergence and collapse rules)"}
                if f["verdict"] == "healthy" else f for f in found]
