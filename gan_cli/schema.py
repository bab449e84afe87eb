"""Types of every config key, checked by Hydra while it composes: `train.steps=abc` or `=3.5` is
refused before any code runs. The values themselves live in conf/*.yaml (fields here are MISSING);
ranges are checked in config.py. The model and optim groups are untyped here: their builders
check their own keyword arguments.

Each schema is stored at the top of Hydra's ConfigStore as `schema_<what>` and named in the
defaults list of the YAML file it types (`- /schema_data_ring8@_here_`), so the schemas never
show up as choices of a config group in `gan train --help`.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TrainSettings:
    steps: int = MISSING
    batch_size: int = MISSING
    d_steps: int = MISSING
    log_every: int = MISSING
    sample_every: int = MISSING
    ckpt_every: int = MISSING
    keep_snapshots: int = MISSING
    n_samples: int = MISSING
    resume: str | None = MISSING
    progress: str = MISSING
    diverged_exit_code: int = MISSING
    ema: float = MISSING
    ema_rampup: float = MISSING
    lr_decay_from: float = MISSING
    augment: str = MISSING
    augment_ops: list[str] = MISSING
    ada_target: float = MISSING
    threads: Any = MISSING  # `auto` or an integer >= 1: OmegaConf 2.3 has no such type, config.py checks it
    precision: str = MISSING
    channels_last: bool = MISSING
    compile: bool = MISSING
    deterministic: bool = MISSING


@dataclass
class DataDir:
    data_dir: str = MISSING


@dataclass
class TrainPaths(DataDir):
    output_dir: str = MISSING


@dataclass
class TrainConfig:
    """conf/train.yaml; the groups are typed by their own schemas (method, model and optim by their
    registries instead)."""
    seed: int = MISSING
    device: str = MISSING
    train: TrainSettings = field(default_factory=TrainSettings)
    paths: TrainPaths = field(default_factory=TrainPaths)
    data: Any = MISSING
    method: Any = MISSING
    model: Any = MISSING
    optim: Any = MISSING
    loss: Any = MISSING
    eval: Any = MISSING


@dataclass
class Arithmetic:
    a: list[int] = MISSING
    b: list[int] = MISSING
    c: list[int] = MISSING


@dataclass
class SampleConfig:
    """conf/sample.yaml (`gan sample`)."""
    checkpoint: str = MISSING
    n: int = MISSING
    seed: int = MISSING
    out: str | None = MISSING
    device: str = MISSING
    mode: str = MISSING
    label: int | None = MISSING
    seeds: list[int] = MISSING
    steps: int = MISSING
    arithmetic: Arithmetic = field(default_factory=Arithmetic)
    k: int = MISSING
    input: str | None = MISSING
    direction: str = MISSING
    truncation: float = MISSING
    mix_seeds: list[int] = MISSING
    code: int = MISSING
    span: float = MISSING
    caption: str | None = MISSING
    paths: DataDir = field(default_factory=DataDir)


@dataclass
class EvalConfig:
    """conf/evaluate.yaml (`gan eval`)."""
    checkpoint: str = MISSING
    seed: int = MISSING
    device: str = MISSING
    out: str | None = MISSING
    paths: DataDir = field(default_factory=DataDir)
    eval: Any = MISSING


@dataclass
class EvalSettings:
    """conf/eval/*.yaml."""
    every: int = MISSING
    metrics: Any = MISSING  # `auto` or a list of metric names
    n_samples: int = MISSING
    classifier_epochs: int = MISSING
    objective: str | None = MISSING


@dataclass
class TorchvisionData:
    """conf/data/{fashion_mnist,cifar10}.yaml."""
    name: str = MISSING
    root: str = MISSING
    download: bool = MISSING


@dataclass
class DcganRecipe:
    """A dataset's recipe for model=dcgan (conf/model/dcgan.yaml reads it when the data sets it)."""
    width: int = MISSING
    hidden: int = MISSING


@dataclass
class MnistDigits(TorchvisionData):
    """MNIST's digits, with the offline fallback."""
    fallback: str = MISSING


@dataclass
class MnistData(MnistDigits):
    """conf/data/mnist.yaml: the digits and the size of the DCGAN its recipe builds."""
    dcgan: DcganRecipe | None = None


@dataclass
class StackedMnistData(MnistDigits):
    n_images: int = MISSING
    image_size: int = MISSING
    mode_samples: int = MISSING
    data_seed: int = MISSING


@dataclass
class ImageFolderData:
    name: str = MISSING
    path: str = MISSING
    image_size: int = MISSING
    channels: int = MISSING
    cache: bool = MISSING


@dataclass
class DomainPairData:
    """conf/data/digits2mnist.yaml."""
    name: str = MISSING


@dataclass
class InvertedPairData(DomainPairData):
    """conf/data/mnist2inverted.yaml."""
    data_seed: int = MISSING


@dataclass
class UnpairedData(DomainPairData):
    """conf/data/unpaired.yaml."""
    path: str = MISSING
    image_size: int = MISSING
    channels: int = MISSING


@dataclass
class TranslationMethod:
    """conf/method/{cyclegan,discogan}.yaml (ranges: gan_cli/methods/translate.py)."""
    name: str = MISSING
    lambda_cyc: float = MISSING
    lambda_idt: float = MISSING
    cycle_distance: str = MISSING
    pool_size: int = MISSING
    decay_from: float = MISSING


@dataclass
class Ring8Data:
    name: str = MISSING
    n_points: int = MISSING
    radius: float = MISSING
    std: float = MISSING
    data_seed: int = MISSING


@dataclass
class Grid25Data:
    name: str = MISSING
    n_points: int = MISSING
    spacing: float = MISSING
    std: float = MISSING
    data_seed: int = MISSING


@dataclass
class InfoGanMethod:
    """conf/method/infogan.yaml."""
    name: str = MISSING
    categorical: list[int] = MISSING
    continuous: int = MISSING
    lambda_cat: float = MISSING
    lambda_cont: float = MISSING
    learn_std: bool = MISSING
    labelled: int = MISSING
    q_warp: float = MISSING
    q: Any = MISSING  # checked against InfoDiscriminator's annotated signature (models/info.py)


@dataclass
class CaptionsData:
    """conf/data/mnist_captions.yaml."""
    name: str = MISSING
    n_images: int = MISSING
    held_out: float = MISSING
    data_seed: int = MISSING


@dataclass
class StackGanMethod:
    """conf/method/stackgan.yaml."""
    name: str = MISSING
    kl_weight: float = MISSING
    text_encoder: str = MISSING
    text_epochs: int = MISSING
    digit_weight: float = MISSING
    hard_negatives: float = MISSING


# Losses: fields in the order of their YAML files, so `--cfg job` reads like them.
@dataclass
class Loss:
    """conf/loss/{hinge,lsgan}.yaml."""
    name: str = MISSING
    r1_gamma: float = MISSING
    r1_every: int = MISSING


@dataclass
class CrossEntropyLoss:
    """conf/loss/{minimax,nonsaturating}.yaml."""
    name: str = MISSING
    label_smoothing: float = MISSING
    r1_gamma: float = MISSING
    r1_every: int = MISSING


@dataclass
class WganLoss:
    name: str = MISSING
    clip: float = MISSING
    r1_gamma: float = MISSING
    r1_every: int = MISSING


@dataclass
class WganGpLoss:
    name: str = MISSING
    gp_weight: float = MISSING
    r1_gamma: float = MISSING
    r1_every: int = MISSING


@dataclass
class WganGpDriftLoss:
    name: str = MISSING
    gp_weight: float = MISSING
    drift: float = MISSING
    r1_gamma: float = MISSING
    r1_every: int = MISSING


SCHEMAS = {
    "train": TrainConfig, "sample": SampleConfig, "evaluate": EvalConfig, "eval": EvalSettings,
    "data_torchvision": TorchvisionData, "data_mnist": MnistData, "data_stacked_mnist": StackedMnistData,
    "data_image_folder": ImageFolderData, "data_domain_pair": DomainPairData,
    "data_inverted_pair": InvertedPairData, "data_unpaired": UnpairedData,
    "method_translation": TranslationMethod,
    "data_ring8": Ring8Data, "data_grid25": Grid25Data,
    "method_infogan": InfoGanMethod, "data_mnist_captions": CaptionsData, "method_stackgan": StackGanMethod,
    "loss": Loss, "loss_cross_entropy": CrossEntropyLoss, "loss_wgan": WganLoss, "loss_wgan_gp": WganGpLoss,
    "loss_wgan_gp_drift": WganGpDriftLoss,
}


def register() -> None:
    """Store every schema as schema_<name>; Hydra must see them before it composes."""
    store = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        store.store(name=f"schema_{name}", node=node, provider="gan_cli")


register()
