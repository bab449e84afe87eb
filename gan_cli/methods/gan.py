"""Goodfellow et al. 2014, Algorithm 1, with k = train.d_steps (conditional: Mirza & Osindero 2014).

    for each iteration:
        k times:  x ~ data, z ~ N(0, I);  D step on J_D with G fixed
        once:     z ~ N(0, I);            G step on J_G with D fixed

The costs J_D, J_G are the loss config's (gan_cli/losses.py, pure functions of D's logits).
Everything around the iteration (logging, checkpoints, resume) is the runner's: gan_cli/run.py.
"""

import torch

from gan_cli.augment import build_augment, seen
from gan_cli.errors import ConfigError
from gan_cli.evaluate import draw_plain, make_evaluator, snapshot_diagnostics
from gan_cli.gan_modes import GAN_MODES
from gan_cli.health import diversity, verdict
from gan_cli.images import image_grid, plot_limit, scatter_image
from gan_cli.losses import gradient_penalty, make_game, r1_penalty
from gan_cli.models import build_models, class_labels, fade_reals, follow_step, noise, schedule_tags
from gan_cli.optimizers import build_optimizer, lr_factor, scale_lr
from gan_cli.precision import Precision
from gan_cli.progress import format_stats
from gan_cli.readers import Data


class GAN:
    """One G, one D, one noise input: the game every loss config in conf/loss/ describes."""

    no_compile: dict = {}  # net name -> why train.compile must leave it eager
    averaged = ("G",)  # train.ema averages G; samples and metrics then come from the average
    has_codes = False  # G has no categorical codes for the metrics to read (InfoGAN's has)
    sample_modes = GAN_MODES  # gan sample mode=grid | interpolate | arithmetic | nearest

    def __init__(self, cfg, info: dict, device):
        self.info, self.game = info, make_game(cfg.loss)
        self.reference = None  # the real data's metrics, once evaluator() has measured them
        G, D = self.build(cfg, info, device)
        self.nets = {"G": G, "D": D}
        self.augment = build_augment(cfg.train)  # what D sees (train.augment); None: the images as they are
        if self.augment is not None:
            self.nets["augment"] = self.augment.to(device)  # state only (ADA's p): checkpointed
        lazy = self.game.r1_every if self.game.r1_gamma else 1  # lazy R1: StyleGAN2's Adam correction
        self.opts = {"g": build_optimizer(cfg.optim.g, G.parameters(), "optim.g"),
                     "d": build_optimizer(cfg.optim.d, D.parameters(), "optim.d", lazy_every=lazy)}
        self.base_lr = {name: [g["lr"] for g in opt.param_groups] for name, opt in self.opts.items()}
        self.total, self.decay_from = int(cfg.train.steps), float(cfg.train.get("lr_decay_from", 1.0))
        self.batch_size, self.d_steps = int(cfg.train.batch_size), int(cfg.train.d_steps)
        self.d_index = 0  # D steps since step 0, counted from the iteration: lazy R1 resumes in phase
        self.amp = Precision(cfg.train.get("precision", "fp32"), device)
        if self.game.gp_weight or self.game.r1_gamma:  # train.compile leaves these nets eager
            self.no_compile = {"D": "its gradient penalty needs double backward, which torch.compile "
                                    "does not support"}
        d = "critic" if self.game.critic else "D"  # critic games: raw scores, not probabilities
        self.tags = {"loss_d": "loss/d", "loss_g": "loss/g", "D_real": f"{d}/real", "D_fake": f"{d}/fake",
                     "D_acc_real": "diag/D_acc_real", "D_acc_fake": "diag/D_acc_fake", "D_gap": "diag/D_gap",
                     "augment_p": "augment/p", "augment_signal": "augment/signal",  # train.augment
                     **schedule_tags(self.nets)}  # progan: progan/resolution, progan/alpha

    def pretrain(self, data: Data, cache_dir) -> None:
        """Before step 1 of a fresh run (rank 0; not on resume): what a method sets up from the
        data once, leaving the run's random streams as they were. Algorithm 1 has nothing to."""

    def build(self, cfg, info: dict, device):
        """G and D from the model registry, for the data's shape (and classes, when conditional)."""
        return build_models(cfg.model, tuple(info["shape"]), device, info.get("num_classes"))

    @staticmethod
    def info(data: Data) -> dict:
        """What rebuilding G and D needs to know about the data, without loading it."""
        if not isinstance(data, Data):
            raise ConfigError(f"{data.source} holds two domains: use method=cyclegan | discogan")
        record = {"shape": list(data.shape), "source": data.source, "num_classes": data.num_classes}
        if not data.is_image:
            record["plot_limit"] = plot_limit(data.x)
        return record

    def d_cost(self, data: Data) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """J_D (plus penalties) on a fresh real minibatch and fresh noise, G fixed; and the logits."""
        G, D, m = self.nets["G"], self.nets["D"], self.batch_size
        real, y = data.sample_labelled(m) if G.conditional else (data.sample(m), None)
        real = fade_reals(D, real)  # progan: the reals blended between resolutions during a fade-in
        with torch.no_grad(), self.amp.autocast():              # G fixed
            fake = G(noise(m, G.z_dim, real.device), y)        # conditional: the real batch's labels
        with self.amp.autocast():
            real_logits = D(seen(self.augment, real), y).float()
            fake_logits = D(seen(self.augment, fake), y).float()
            loss_d = self.game.d_loss(real_logits=real_logits, fake_logits=fake_logits)
        return loss_d + self.penalties(real, fake, y), real_logits, fake_logits

    def penalties(self, real: torch.Tensor, fake: torch.Tensor, y) -> torch.Tensor | float:
        """The loss config's gradient penalty (WGAN-GP) and R1 penalty on D; 0 when off. In fp32
        under every train.precision (losses.py): their double backward stays finite."""
        D, game, total = self.nets["D"], self.game, 0.0
        critic = lambda x: D(seen(self.augment, x), y)  # noqa: E731  (D as it sees images)
        if game.gp_weight:
            total = total + game.gp_weight * gradient_penalty(critic, real, fake)
        if game.r1_gamma and self.d_index % game.r1_every == 0:  # lazy: k x the weight, 1/k as often
            total = total + game.r1_gamma * game.r1_every * r1_penalty(critic, real)
        return total

    def d_step(self, data: Data) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One update of D on J_D with G fixed."""
        loss_d, real_logits, fake_logits = self.d_cost(data)
        self.amp.minimize(loss_d, self.opts["d"])
        if self.augment is not None:  # ADA: the overfitting signal, and p every few D steps
            self.augment.observe(real_logits.detach(), self.d_index)
        if self.game.clip:  # WGAN: keep the critic (roughly) K-Lipschitz
            with torch.no_grad():  # one kernel per op for all weights, not one per tensor
                params = list(self.nets["D"].parameters())
                torch._foreach_clamp_min_(params, -self.game.clip)
                torch._foreach_clamp_max_(params, self.game.clip)
        return loss_d.detach(), real_logits.detach(), fake_logits.detach()

    def g_cost(self, device) -> torch.Tensor:
        """J_G on fresh noise (and, when conditional, labels drawn uniformly)."""
        G, D, m = self.nets["G"], self.nets["D"], self.batch_size
        y = torch.randint(G.num_classes, (m,), device=device) if G.conditional else None
        with self.amp.autocast():
            fake_logits = D(seen(self.augment, G(noise(m, G.z_dim, device), y)), y).float()
        return self.game.g_loss(fake_logits=fake_logits)

    def g_step(self, device) -> torch.Tensor:
        """One update of G on J_G with D fixed (D's weights get no gradient)."""
        D = self.nets["D"]
        D.requires_grad_(False)
        loss_g = self.g_cost(device)
        self.amp.minimize(loss_g, self.opts["g"])
        D.requires_grad_(True)
        return loss_g.detach()

    def step(self, data: Data, it: int) -> dict:
        """One iteration of Algorithm 1: k D steps, then one G step. Stats of the last D step."""
        scheduled = follow_step(self.nets, it)  # progan: this step's resolution and fade-in alpha
        if self.decay_from < 1:  # train.lr_decay_from: constant, then linear to 0 at train.steps
            scale_lr(self.opts, self.base_lr, lr_factor(it, self.total, self.decay_from))
        for j in range(self.d_steps):
            self.d_index = it * self.d_steps + j
            loss_d, real_logits, fake_logits = self.d_step(data)
        loss_g = self.g_step(real_logits.device)
        self.amp.update()  # fp16: the loss scale adjusts once per iteration
        mean = (lambda s: s.mean()) if self.game.critic else (lambda s: torch.sigmoid(s).mean())
        d_real, d_fake = mean(real_logits), mean(fake_logits)
        return {"loss_d": loss_d, "loss_g": loss_g,
                "D_real": d_real,   # D(x), or the mean critic score on real data
                "D_fake": d_fake,   # D(G(z)), or the mean critic score on fakes
                "D_gap": d_real - d_fake,
                "D_acc_real": (real_logits > 0).float().mean(),        # share of reals called real
                "D_acc_fake": (fake_logits < 0).float().mean(),        # share of fakes called fake
                **(self.augment.stats() if self.augment is not None else {}),
                **scheduled}

    def status(self, stats: dict) -> str:
        return format_stats(stats, self.tags)

    def probe(self, data: Data, n: int, seed: int) -> dict:
        """Fixed noise (and labels) for sample images and a fixed real batch for diagnostics."""
        G, device = self.nets["G"], data.x.device
        gen = torch.Generator(device).manual_seed(seed)
        n_fixed = n if data.is_image else max(n, 1000)  # a scatter needs more points
        real_idx = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(seed))[:256]
        return {"z": noise(n_fixed, G.z_dim, device, gen), "y": class_labels(G, n_fixed, device),
                "nrow": G.num_classes or None,  # the sample grid's row length
                "z_div": noise(256, G.z_dim, device, gen), "y_div": class_labels(G, 256, device),
                "real": data.batch(real_idx.to(device)),
                "scatter": None if data.is_image else data.x[:2000]}  # 2D: the real points under the fakes

    @torch.no_grad()
    def show(self, nets: dict, probe: dict, data: Data) -> torch.Tensor:
        """G(fixed z) in eval mode as a grid (conditional: a column per class), or a 2D scatter."""
        G = nets["G"]
        G.eval()
        fake = G(probe["z"], probe["y"])
        G.train()
        if probe["scatter"] is None:
            return image_grid(fake, nrow=probe["nrow"])
        return scatter_image(fake, probe["scatter"], plot_limit(probe["scatter"]))

    @torch.no_grad()
    def diagnostics(self, nets: dict, probe: dict) -> dict:
        """Sample diversity of fixed noise against a fixed real batch (1: as diverse as the data)."""
        G = nets["G"]
        G.eval()
        with self.amp.autocast():  # under bf16/fp16 as the training passes (fp32: 4x a step's G work)
            fake = G(probe["z_div"], probe["y_div"]).float()
        value = diversity(fake, probe["real"])
        G.train()
        return {"diversity": value}

    def draw(self, G, n: int, seed: int) -> tuple[torch.Tensor, None]:
        """n samples of G from seeded noise (conditional: the classes in equal shares), for metrics."""
        return draw_plain(G, n, seed)

    def evaluator(self, data: Data, eval_cfg, cache_dir):
        """The metrics of G's samples against the real data (gan_cli/evaluate.py)."""
        evaluate, settings = make_evaluator(data, eval_cfg, cache_dir, draw=self.draw, codes=self.has_codes)
        self.reference = settings.get("real_reference")  # the verdict's floor: real data, scored alike
        return (lambda nets, seed=0: evaluate(nets["G"], seed)) if evaluate else None, settings

    def snapshot(self, nets: dict, data: Data, seed: int = 0) -> dict:
        """D's view of real and generated batches and the diversity, for judging one checkpoint."""
        return snapshot_diagnostics(nets["G"], nets["D"], data, seed=seed, critic=self.game.critic,
                                    draw=self.draw)

    def verdict(self, history: list, evals: list, diverged_at=None, streak_min: int = 3) -> list:
        k, image = self.info.get("num_classes"), len(self.info["shape"]) == 3
        return verdict(history, evals, diverged_at, critic=self.game.critic, streak_min=streak_min,
                       num_modes=None if image else k, num_classes=k if image else None,
                       reference=self.reference)
