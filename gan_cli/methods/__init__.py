"""Methods by name: what one training iteration is. The runner (gan_cli/run.py) owns the rest.

A method is a class built as `Method(cfg, info, device)` (info: the data record that its
`info(data)` static method writes into every checkpoint), with:

    nets, opts     dicts of every network and optimizer by name: the runner moves, checkpoints,
                   resumes and averages them by name, without knowing what they are (a net
                   without parameters is state kept in buffers, e.g. CycleGAN's image pools)
    averaged       names of the nets whose moving average (train.ema) draws samples and metrics
    tags           step() stat key -> TensorBoard tag
    step(data, it) one iteration (it: 1-based); returns detached 0-d tensors
    status(stats)  one progress line;  probe(data, n, seed): fixed inputs for show/diagnostics
    show(nets, probe, data) -> (3, H, W) image;  diagnostics(nets, probe) -> extra diag/* floats
    pretrain(data, cache_dir)  before step 1 of a fresh run (rank 0): StackGAN's cached text encoder
    evaluator(data, eval_cfg, cache_dir) -> (fn(nets, seed) -> metrics, settings)
    snapshot(nets, data, seed) -> diagnostics of one checkpoint (gan eval)
    verdict(history, evals, diverged_at, streak_min) -> health findings
    sample_modes   `gan sample mode=<name>` -> fn(method, nets, ckpt, options) -> list of paths

`nets` passed to show/diagnostics/evaluator/snapshot are the method's nets with the averaged
copies in place of the trained ones when train.ema is on.
"""

from gan_cli.errors import ConfigError
from gan_cli.methods.gan import GAN
from gan_cli.methods.infogan import InfoGAN
from gan_cli.methods.stackgan import StackGAN
from gan_cli.methods.translate import CycleGAN

# DiscoGAN is CycleGAN's two-domain game with other settings (conf/method/discogan.yaml)
METHODS = {"gan": GAN, "infogan": InfoGAN, "cyclegan": CycleGAN, "discogan": CycleGAN, "stackgan": StackGAN}


def method_class(method_cfg) -> type:
    """The class for method.name (a closed registry: a config never chooses code)."""
    name = (method_cfg or {}).get("name")
    if name not in METHODS:
        raise ConfigError(f"method.name={name} is not allowed: one of {', '.join(METHODS)}")
    return METHODS[name]
