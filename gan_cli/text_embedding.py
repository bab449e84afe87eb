"""StackGAN's caption encoder, trained once per captioned dataset and cached beside the feature
classifiers (method.text_encoder=pretrained).

StackGAN (Zhang et al. 2017) does not learn its text encoder with the GAN: it reads a pretrained,
fixed char-CNN-RNN (Reed et al. 2016), trained with a joint embedding of images and their
captions. This is the same idea at this data's size: an image encoder f (a small CNN) and the
text encoder g learn together that a canvas and its caption match and that the batch's other
captions do not (a symmetric contrastive loss; canvases of one layout all count as matches):

    u = f(x) / |f(x)|,  v = g(t) / |g(t)|,  s = u v^T / tau                     (B, B)
    loss = 1/2 [ CE(rows of s, matches) + CE(columns of s, matches) ]

Why not only with D: a D that learns the encoder needs only what tells a caption from a random
other one, and measured, it kept the relation and the last digit and lost the first (a linear
probe read the first digit at chance, 0.11, docs/methods/stackgan.md). Only the training
canvases are read, so held-out sentences stay unseen.

method.text_encoder=layout trains the text encoder alone, from the training canvases' layouts: a
linear head on the embedding names the digit in each of the canvas's 8 boxes (10: none),

    loss = mean over boxes of CE(head(g(t))_box, the box's digit)

so the embedding holds, linearly, what goes where, and "3 left of 7" and "7 right of 3" embed
alike. With model.d.text=mlp it reads held-out captions whole far more often than the GRU does.
"""

import hashlib
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.captions import BOXES, box_digits
from gan_cli.features import read_cache
from gan_cli.files import atomic_write
from gan_cli.models.stackgan import TEXT_ENCODERS
from gan_cli.readers import Data

log = logging.getLogger(__name__)
TEMPERATURE, BATCH, LR, SEED, DROPOUT = 0.1, 128, 1e-3, 0, 0.3  # DROPOUT: the layout objective's


def image_encoder(channels: int, size: int, emb_dim: int) -> nn.Sequential:
    """(B, C, S, S) -> (B, emb_dim): stride-2 4x4 convs 32, 64, 128, 128 (S/16), then a linear map."""
    layers, n = [], channels
    for width in (32, 64, 128, 128):
        layers += [nn.Conv2d(n, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        n = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(n * (size // 16) ** 2, emb_dim))


def contrastive_loss(u: torch.Tensor, v: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """u, v (B, E) image and text embeddings; same (B, B) bool, True where the captions are equal."""
    s = F.normalize(u, dim=1) @ F.normalize(v, dim=1).T / TEMPERATURE
    target = same.float() / same.float().sum(1, keepdim=True)  # symmetric: rows and columns alike
    return -((target * s.log_softmax(1)).sum(1).mean() + (target * s.log_softmax(0)).sum(0).mean()) / 2


def fit(params: list, n: int, epochs: int, loss_of, what: str) -> None:
    """Adam over params for `epochs` passes over n rows in shuffled batches; loss_of(idx) -> loss."""
    opt = torch.optim.Adam(params, LR)
    batch = min(BATCH, n)
    for epoch in range(epochs):
        order = torch.randperm(n, device=params[0].device)
        for i in range(0, n - batch + 1, batch):
            loss = loss_of(order[i:i + batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        log.info(f"Text encoder: epoch {epoch + 1}/{epochs}, {what} loss {loss.item():.3f}")


def train_text_encoder(data: Data, emb_dim: int, epochs: int, kind: str = "gru") -> dict:
    """The text encoder's state after `epochs` passes over the data with the contrastive loss."""
    torch.manual_seed(SEED)
    x, tokens = data.x, data.meta["tokens"].to(data.x.device)
    text = TEXT_ENCODERS[kind](emb_dim).to(x.device)
    image = image_encoder(data.shape[0], data.shape[-1], emb_dim).to(x.device)

    def loss_of(idx):
        same = (tokens[idx][:, None] == tokens[idx][None]).all(-1)
        return contrastive_loss(image(data.batch(idx)), text(tokens[idx]), same)

    fit([*image.parameters(), *text.parameters()], len(x), epochs, loss_of, "contrastive")
    return {k: v.detach().cpu() for k, v in text.state_dict().items()}


def layout_reader(data: Data, emb_dim: int, epochs: int, kind: str = "gru") -> tuple[nn.Module, nn.Module]:
    """The text encoder and its head (emb_dim -> 8 boxes x 11) after `epochs` passes over the
    captions, naming each box's digit."""
    torch.manual_seed(SEED)
    tokens = data.meta["tokens"].to(data.x.device)
    targets = torch.tensor([box_digits(layout) for layout in data.meta["layouts"].tolist()],
                           device=tokens.device)                                     # (N, 8)
    text = TEXT_ENCODERS[kind](emb_dim).to(tokens.device)
    head = nn.Linear(emb_dim, len(BOXES) * 11).to(tokens.device)

    def loss_of(idx):
        e = text(tokens[idx], DROPOUT) if kind == "mlp" else text(tokens[idx])
        return F.cross_entropy(head(e).view(-1, 11), targets[idx].flatten())

    fit([*head.parameters(), *text.parameters()], len(tokens), epochs, loss_of, "layout")
    return unit_scale(text, head, tokens)


@torch.no_grad()
def unit_scale(text: nn.Module, head: nn.Linear, tokens: torch.Tensor) -> tuple[nn.Module, nn.Module]:
    """The encoder's last layer divided by its embeddings' mean norm over the training captions,
    and the head multiplied by it (its reading unchanged). The cross-entropy drives that norm up
    (66 after 10 passes; the contrastive encoder's is about 1, as its loss normalises), and so
    large an embedding drowns G's z: every z drew the same picture of a caption. Scaled to unit
    variance per dimension (norm 8, z's) it still did (docs/methods/stackgan.md)."""
    norm = text(tokens).norm(dim=1).mean()
    text.out.weight /= norm
    text.out.bias /= norm
    head.weight *= norm
    return text, head


def train_layout_encoder(data: Data, emb_dim: int, epochs: int, kind: str = "gru") -> dict:
    """The state of layout_reader's text encoder (its head is dropped)."""
    text, _ = layout_reader(data, emb_dim, epochs, kind)
    return {k: v.detach().cpu() for k, v in text.state_dict().items()}


OBJECTIVES = {"pretrained": train_text_encoder, "layout": train_layout_encoder}  # method.text_encoder


def pretrained_text_encoder(data: Data, emb_dim: int, epochs: int, cache_dir: Path,
                            kind: str = "gru", objective: str = "pretrained") -> dict:
    """The cached text encoder's state for this data (its canvases and captions), or train and
    cache it. kind: model.d.text; objective: method.text_encoder (OBJECTIVES). The run's random
    streams are left as they were."""
    digest = hashlib.sha1(data.x.cpu().numpy().tobytes())
    digest.update(data.meta["tokens"].cpu().numpy().tobytes())
    digest.update(f"{emb_dim}|{epochs}|{TEMPERATURE}|{BATCH}|{LR}|{SEED}".encode())
    if (kind, objective) != ("gru", "pretrained"):  # the older runs' caches keep their names
        digest.update(f"|{kind}|{objective}|{DROPOUT}|unit-norm".encode())
    path = Path(cache_dir) / f"text-encoder-{digest.hexdigest()[:12]}.pt"
    keys = TEXT_ENCODERS[kind](1).state_dict().keys()
    saved = read_cache(path, "cpu", "text-encoder", lambda d: d.keys() == keys)
    if saved is not None:
        return saved
    log.info(f"Training the text encoder on {len(data.x)} captioned canvases (cached at {path})")
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        state = OBJECTIVES[objective](data, emb_dim, epochs, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    return state
