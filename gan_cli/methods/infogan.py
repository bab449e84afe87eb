"""InfoGAN (Chen et al. 2016): Algorithm 1 (gan.py) with structured codes c beside the noise z,
and a Q head on D's body that reads c back from G(z, c).

    latent:  z ~ N(0, I) (model.z_dim);  c = categorical codes ~ Cat(K) (one-hot) and
             continuous codes ~ U(-1, 1);  G's input is [z, c]
    for each iteration:
        k times:  x ~ data, z, c;  D and Q step on J_D + L(c, Q(G(z, c)))   with G fixed
        once:     z, c;            G step on J_G + L(c, Q(G(z, c)))         with D and Q fixed
    L = lambda_cat * sum_j CE(c_j, Q_j) + lambda_cont * Gaussian NLL(c_cont | Q's mean, std)

H(c) - L/lambda is the variational lower bound L_I on I(c; G(z, c)); H(c) is a constant, so
minimising L maximises the bound (Chen et al. eq. 6). Q is part of D's module and trained by
D's optimizer (as in openai/InfoGAN). The labels of the data never reach G, D or Q: they only
judge, in the `code_accuracy` metric. The exception is semi-supervised InfoGAN (Spurr et al.
2017), method.labelled > 0: D's cost then adds lambda_cat * CE(y, Q_1(x)) on labelled reals (x, y),
so that value k of the first categorical code comes to mean class k.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan_cli.augment import seen, warp
from gan_cli.errors import ConfigError
from gan_cli.images import image_grid, png_path, save_png
from gan_cli.losses import categorical_nll, gaussian_nll
from gan_cli.methods.gan import GAN
from gan_cli.models import build_info_models, fade_reals, noise
from gan_cli.readers import Data


def labelled_rows(labels: torch.Tensor, n: int, k: int, seed: int) -> torch.Tensor:
    """Semi-supervised InfoGAN's labelled set: n // k rows of each class 0..k-1 of `labels` (N,),
    drawn once from a generator seeded by the run's seed, so that resume finds the same rows."""
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    shuffled = labels.cpu()[perm]
    rows = [perm[shuffled == c][: n // k] for c in range(k)]
    short = [c for c, r in enumerate(rows) if len(r) < n // k]
    if short:
        raise ConfigError(f"method.labelled={n} is not allowed here: {n // k} images of each class, "
                          f"and class {short[0]} has {len(rows[short[0]])}")
    return torch.cat(rows).to(labels.device)


@dataclass(frozen=True)
class Codes:
    """The structured codes: categorical sizes (K_1, ...) and a number of continuous codes."""
    categorical: tuple[int, ...]
    continuous: int
    learn_std: bool  # Q predicts a log-std per continuous code; False: std fixed at 1

    @property
    def dim(self) -> int:          # G's extra inputs: one-hots, then continuous values
        return sum(self.categorical) + self.continuous

    @property
    def q_outputs(self) -> int:    # Q's outputs: logits per categorical code, means (and log-stds)
        return sum(self.categorical) + self.continuous * (2 if self.learn_std else 1)

    def draw(self, n: int, device, gen=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, categorical) code indices, uniform; (n, continuous) values, U(-1, 1)."""
        idx = torch.stack([torch.randint(k, (n,), device=device, generator=gen) for k in self.categorical], 1)
        return idx, torch.rand(n, self.continuous, device=device, generator=gen) * 2 - 1

    def vector(self, idx: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
        """G's code input (n, dim): each categorical code one-hot, then the continuous values."""
        onehots = [F.one_hot(idx[:, j], k).to(cont.dtype) for j, k in enumerate(self.categorical)]
        return torch.cat([*onehots, cont], 1)

    def nll(self, q: torch.Tensor, idx: torch.Tensor, cont: torch.Tensor):
        """-log Q(c|x) from Q's outputs q (n, q_outputs): summed cross-entropies of the categorical
        codes, and the Gaussian NLL of the continuous ones (summed over codes), batch means."""
        parts = q.split([*self.categorical, self.continuous, q.shape[1] - self.dim], 1)
        cat = sum(categorical_nll(logits=logits, codes=idx[:, j]) for j, logits in enumerate(parts[:-2]))
        mean = parts[-2]
        log_std = parts[-1] if self.learn_std else torch.zeros_like(mean)
        return cat, gaussian_nll(mean=mean, log_std=log_std, codes=cont)


def _no_label(o: dict) -> None:
    if o.get("label") is not None:
        raise ConfigError(f"label={o['label']} needs a conditional model; InfoGAN's G takes no labels "
                          "(its grids draw a row per value of the categorical code)")


@torch.no_grad()
def grid_mode(method, nets, ckpt, o: dict, out) -> list:
    """n samples, a row per value of the first categorical code (as the training grids)."""
    _no_label(o)
    device = o["device"]
    z, c, cols = method.code_grid(o["n"], device, torch.Generator(device).manual_seed(int(o["seed"])))
    return [save_png(image_grid(nets["G"](z, c), nrow=cols), png_path(out))]


@torch.no_grad()
def codes_mode(method, nets, ckpt, o: dict, out) -> list:
    """The paper's figure: a row per value of the first categorical code, columns sweeping
    continuous code `code` from -span to span; one z, the other codes fixed (continuous at 0)."""
    _no_label(o)
    codes, j, device = method.codes, o.get("code", 0), o["device"]
    if codes.continuous == 0:
        raise ConfigError("mode=codes sweeps a continuous code; this checkpoint has none "
                          "(method.continuous=0): use mode=grid")
    if not 0 <= j < codes.continuous:
        raise ConfigError(f"code={j} is not allowed: a continuous code in 0..{codes.continuous - 1}")
    k, steps, span = codes.categorical[0], int(o["steps"]), float(o.get("span", 2.0))
    if steps < 1:
        raise ConfigError(f"steps={steps} is not allowed: mode=codes needs >= 1 column")
    z, idx, _ = method.latent(1, device, torch.Generator(device).manual_seed(int(o["seed"])))
    idx = idx.repeat(k * steps, 1)
    idx[:, 0] = torch.arange(k, device=device).repeat_interleave(steps)
    cont = torch.zeros(k * steps, codes.continuous, device=device)
    cont[:, j] = torch.linspace(-span, span, steps, device=device).repeat(k)
    fake = nets["G"](z.expand(k * steps, -1), codes.vector(idx, cont))
    return [save_png(image_grid(fake, nrow=steps), png_path(out))]


INFO_MODES = {"grid": grid_mode, "codes": codes_mode}  # gan sample mode=grid | codes


# openai/InfoGAN adds lambda * L_I to the full cross-entropy costs; gan-cli's GAN costs are those
# cross-entropies halved (losses.py, the slides' form), so L_I is halved alike: the same balance.
INFO_SCALE = 0.5


class InfoGAN(GAN):
    """GAN's game and loop; G takes [z, c]; D carries the Q head; both costs gain L."""

    has_codes = True  # the metrics read the first categorical code (code_accuracy)
    sample_modes = INFO_MODES  # gan sample mode=grid | codes

    def __init__(self, cfg, info: dict, device):
        m = cfg.method
        self.codes = Codes(tuple(int(k) for k in m.categorical), int(m.continuous), bool(m.learn_std))
        self.lambda_cat, self.lambda_cont, self.q_cfg = float(m.lambda_cat), float(m.lambda_cont), m.get("q")
        self.entropy = sum(math.log(k) for k in self.codes.categorical)  # H of the categorical codes
        self.labelled, self.seed, self.rows = int(m.get("labelled", 0)), int(cfg.seed), None
        self.q_warp = float(m.get("q_warp", 0.0))  # absent from checkpoints written before it
        super().__init__(cfg, info, device)
        self.tags.update({"loss_info": "loss/info", "mi_categorical": "info/mi_categorical",
                          "nll_continuous": "info/nll_continuous",
                          **({"ce_labelled": "info/ce_labelled"} if self.labelled else {})})
        self.last_info = {}

    def build(self, cfg, info: dict, device):
        """G for z_dim + code inputs; D with the Q head (models/info.py)."""
        return build_info_models(cfg.model, tuple(info["shape"]), device, self.codes.dim,
                                 self.codes.q_outputs, self.q_cfg)

    @staticmethod
    def info(data: Data) -> dict:
        """As GAN's; InfoGAN needs labelled images, whose labels judge the categorical code."""
        if not data.is_image or data.labels is None:
            raise ConfigError(f"method=infogan needs labelled images (mnist, fashion_mnist, cifar10, "
                              f"stacked_mnist): {data.source} has "
                              f"{'no labels' if data.is_image else '2D points, not images'}")
        return GAN.info(data)

    def latent(self, n: int, device, gen=None):
        """z (n, z_dim) ~ N(0, I), categorical indices (n, #categorical), continuous (n, #continuous)."""
        return noise(n, self.nets["G"].z_dim, device, gen), *self.codes.draw(n, device, gen)

    def info_cost(self, q, idx, cont) -> tuple[torch.Tensor, dict]:
        """L = lambda_cat * CE + lambda_cont * NLL, and its parts for TensorBoard."""
        cat, cont_nll = self.codes.nll(q, idx, cont)
        loss_info = self.lambda_cat * cat + self.lambda_cont * cont_nll
        return loss_info, {"loss_info": loss_info.detach(),
                           "mi_categorical": self.entropy - cat.detach(),  # the bound, nats; max H(c)
                           "nll_continuous": cont_nll.detach()}

    def d_cost(self, data: Data):
        """J_D + L on a fresh real minibatch and fresh z, c, G fixed; and the logits."""
        G, D, m = self.nets["G"], self.nets["D"], self.batch_size
        real = fade_reals(D, data.sample(m))                   # labels never read
        z, idx, cont = self.latent(m, real.device)
        with torch.no_grad(), self.amp.autocast():            # G fixed
            fake = G(z, self.codes.vector(idx, cont))
        with self.amp.autocast():
            real_logits = D(seen(self.augment, real)).float()
            fake_logits, q = self.heads(fake)
        fake_logits, q = fake_logits.float(), q.float()
        loss_info, self.last_info = self.info_cost(q, idx, cont)  # logged: the last D step's
        loss_d = self.game.d_loss(real_logits=real_logits, fake_logits=fake_logits) + INFO_SCALE * loss_info
        if self.labelled:
            loss_d = loss_d + INFO_SCALE * self.lambda_cat * self.labelled_cost(data)
        return loss_d + self.penalties(real, fake, None), real_logits, fake_logits

    def heads(self, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D's logits (B,) and Q's outputs (B, q_outputs) on fakes, one pass of D's body for both.
        With method.q_warp > 0 Q reads the categorical codes from a warped copy (a second pass),
        so that they cannot be a slant, size or stroke width, which the continuous codes, read
        from the fakes as they are, may take."""
        logits, q = self.nets["D"].heads(seen(self.augment, fake))
        if self.q_warp > 0:
            n = sum(self.codes.categorical)
            q = torch.cat([self.nets["D"].heads(warp(fake, self.q_warp))[1][:, :n], q[:, n:]], 1)
        return logits, q

    def labelled_cost(self, data: Data) -> torch.Tensor:
        """ss-InfoGAN: CE(y, Q_1(x)) on a minibatch of the labelled reals (x, y), drawn with
        replacement; Q_1 is Q's first categorical code, whose value k is to mean class k."""
        D, k = self.nets["D"], self.codes.categorical[0]
        if self.rows is None:
            if data.num_classes != k:
                raise ConfigError(f"method.labelled={self.labelled} needs method.categorical[0] to be "
                                  f"the data's {data.num_classes} classes: it is {k}")
            self.rows = labelled_rows(data.labels, self.labelled, k, self.seed)
        pick = self.rows[torch.randint(len(self.rows), (self.batch_size,), device=self.rows.device)]
        with self.amp.autocast():
            q = D.heads(seen(self.augment, fade_reals(D, data.batch(pick))))[1]
        ce = categorical_nll(logits=q.float()[:, :k], codes=data.labels[pick])
        self.last_info["ce_labelled"] = ce.detach()
        return ce

    def g_cost(self, device) -> torch.Tensor:
        """J_G + L on fresh z, c (D and Q fixed by g_step)."""
        G = self.nets["G"]
        z, idx, cont = self.latent(self.batch_size, device)
        with self.amp.autocast():
            fake_logits, q = self.heads(G(z, self.codes.vector(idx, cont)))
        fake_logits, q = fake_logits.float(), q.float()
        return self.game.g_loss(fake_logits=fake_logits) + INFO_SCALE * self.info_cost(q, idx, cont)[0]

    def step(self, data: Data, it: int) -> dict:
        """GAN's iteration; its stats plus L's parts from the last D step."""
        return {**super().step(data, it), **self.last_info}

    def code_grid(self, n: int, device, gen) -> tuple[torch.Tensor, torch.Tensor, int]:
        """z and codes for a grid: a row per value of the first categorical code, n // K columns;
        each column one draw of z and the other codes. Returns (z, code vectors, row length)."""
        k = self.codes.categorical[0]
        cols = max(1, n // k)
        z, idx, cont = self.latent(cols, device, gen)
        z, idx, cont = z.repeat(k, 1), idx.repeat(k, 1), cont.repeat(k, 1)
        idx[:, 0] = torch.arange(k, device=device).repeat_interleave(cols)
        return z, self.codes.vector(idx, cont), cols

    def probe(self, data: Data, n: int, seed: int) -> dict:
        """GAN's real batch; fixed z and codes for the grid (a row per code value) and diversity."""
        probe, device = super().probe(data, n, seed), data.x.device
        gen = torch.Generator(device).manual_seed(seed)
        probe["z"], probe["y"], probe["nrow"] = self.code_grid(n, device, gen)
        z, idx, cont = self.latent(256, device, gen)
        probe["z_div"], probe["y_div"] = z, self.codes.vector(idx, cont)
        return probe

    @torch.no_grad()
    def draw(self, G, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples from seeded z and codes, the first categorical code in equal shares, in eval
        mode; and that code (n,), for code_accuracy."""
        device = next(G.parameters()).device
        z, idx, cont = self.latent(n, device, torch.Generator(device).manual_seed(seed))
        idx[:, 0] = torch.arange(n, device=device) % self.codes.categorical[0]
        c, was_training = self.codes.vector(idx, cont), G.training
        G.eval()
        fake = torch.cat([G(z[i:i + 500], c[i:i + 500]) for i in range(0, n, 500)])
        G.train(was_training)
        return fake, idx[:, 0]
