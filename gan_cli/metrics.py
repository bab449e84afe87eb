"""Sample-quality metrics on feature vectors (N, F): pure functions, float64 where it matters.

Feature spaces: the penultimate layer of a small classifier trained on the real data
("classifier FID", never Inception FID), or the plane itself for 2D mixtures.
"""

import math

import torch


def _stats(x: torch.Tensor):
    x = x.double()
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / (len(x) - 1)


def _trace_sqrt_product(s1: torch.Tensor, s2: torch.Tensor) -> float:
    """tr sqrt(S1 S2) via the symmetric form sqrt(S1) S2 sqrt(S1), whose eigenvalues are real and
    >= 0 up to rounding: clipping tiny negative ones keeps the result real for singular covariances."""
    w, v = torch.linalg.eigh(s1)
    root1 = (v * w.clamp(min=0).sqrt()) @ v.T
    m = root1 @ s2 @ root1
    return torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum().item()


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance |mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrt(S1 S2)) between Gaussian fits."""
    mu1, s1 = _stats(real)
    mu2, s2 = _stats(fake)
    value = (mu1 - mu2).square().sum().item() + (s1.trace() + s2.trace()).item() \
        - 2 * _trace_sqrt_product(s1, s2)
    return max(value, 0.0)


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 10, subset_size: int = 500,
        seed: int = 0) -> float:
    """Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with the cubic kernel
    k(a, b) = (a.b / F + 1)^3, averaged over random subsets (unbiased even for small samples)."""
    gen = torch.Generator().manual_seed(seed)
    real, fake = real.double().cpu(), fake.double().cpu()
    m = min(subset_size, len(real), len(fake))
    dim = real.shape[1]
    total = 0.0
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=gen)[:m]]
        y = fake[torch.randperm(len(fake), generator=gen)[:m]]
        kxx, kyy, kxy = ((a @ b.T / dim + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off = m * (m - 1)
        total += ((kxx.sum() - kxx.diagonal().sum()) / off + (kyy.sum() - kyy.diagonal().sum()) / off
                  - 2 * kxy.mean()).item()
    return total / subsets


def _knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row."""
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # +1: the row itself is at distance 0


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> dict:
    """Kynkaanniemi et al. 2019: precision = share of fakes inside some real k-NN ball; recall =
    share of reals inside some fake k-NN ball."""
    real, fake = real.double(), fake.double()
    r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
    d = torch.cdist(fake, real)  # (n_fake, n_real)
    precision = (d <= r_real[None, :]).any(1).double().mean().item()
    recall = (d.T <= r_fake[None, :]).any(1).double().mean().item()
    return {"precision": precision, "recall": recall}


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> dict:
    """Naeem et al. 2020: density = mean count of real k-NN balls holding each fake, over k;
    coverage = share of reals whose k-NN ball holds at least one fake."""
    real, fake = real.double(), fake.double()
    r_real = _knn_radii(real, k)
    inside = torch.cdist(fake, real) <= r_real[None, :]  # (n_fake, n_real)
    return {"density": inside.double().sum(1).mean().item() / k,
            "coverage": inside.any(0).double().mean().item()}


def class_coverage(pred: torch.Tensor, num_classes: int, min_share: float = 0.1) -> dict:
    """Mode collapse on labelled data, with a classifier as judge: classes_covered, the classes that
    get at least min_share of a uniform share of the samples (this project's rule); classes_hit,
    those with at least one sample (the rule of the Stacked-MNIST tables: VEEGAN, PacGAN); and
    KL(generated histogram || uniform)."""
    counts = torch.bincount(pred.cpu(), minlength=num_classes).double()
    p = counts / counts.sum()
    kl = (p[p > 0] * (p[p > 0] * num_classes).log()).sum().item()
    covered = int((counts >= min_share * counts.sum() / num_classes).sum())
    return {"classes_covered": covered, "classes_hit": int((counts >= 1).sum()), "class_kl": kl}


def mixture_modes(points: torch.Tensor, centres: torch.Tensor, std: float,
                  min_share: float = 0.1) -> dict:
    """2D mixtures (VEEGAN, PacGAN): a sample is high quality within 3 std of its nearest centre.
    Over the high-quality samples' mode histogram p: a mode is captured (this project's rule) when
    it holds at least min_share of a fair share (n_hq / modes), hit (the papers' rule) when it holds
    one; modes_kl = KL(p || uniform), PacGAN's reverse KL (log(modes) when no sample is high
    quality: as bad as one mode taking all, and finite for JSON and the sweepers);
    mode_score = HQ share x exp(-modes_kl), in [0, 1], 1 only when every sample is high quality
    and the modes are equally hit (the 2D headline: it rewards quality and coverage at once)."""
    d = torch.cdist(points.double().cpu(), centres.double().cpu())  # (n, modes)
    dist, nearest = d.min(1)
    good = dist <= 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres)).double()
    n_good, k = counts.sum().item(), len(centres)
    p = counts / max(n_good, 1)
    kl = (p[p > 0] * (p[p > 0] * k).log()).sum().item() if n_good else math.log(k)
    hq = good.double().mean().item()
    return {"modes_captured": int((counts >= min_share * n_good / k).sum()) if n_good else 0,
            "modes_hit": int((counts >= 1).sum()),
            "high_quality_pct": 100.0 * hq,
            "modes_kl": kl,
            "mode_score": hq * math.exp(-kl) if n_good else 0.0}


def code_accuracy(codes: torch.Tensor, classes: torch.Tensor, num_codes: int, num_classes: int) -> float:
    """InfoGAN's categorical code against the classes a classifier reads: the share of samples
    whose class is the one matched to their code, under the best one-to-one matching of code
    values to classes (Hungarian, on the counts; the code-to-class mapping is arbitrary)."""
    from scipy.optimize import linear_sum_assignment

    counts = torch.zeros(num_codes, num_classes, dtype=torch.float64)
    counts.index_put_((codes.cpu().long(), classes.cpu().long()), torch.ones(len(codes), dtype=torch.float64),
                      accumulate=True)                                   # (codes, classes)
    rows, cols = linear_sum_assignment(counts.numpy(), maximize=True)
    return float(counts[rows, cols].sum() / len(codes))
