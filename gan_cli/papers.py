"""What a model's paper trains it with: `gan train model=progan` brings its paper's optimizer and
loss unless the command line names them itself.

Hydra lets a config override only groups listed before it, and the model group comes first (a
dataset's recipe must be able to choose the model), so a model's config cannot choose the
optimizer or the loss. This table does it on the command line instead, before Hydra composes:
plain strings, no torch, so that start-up stays quick.
"""

# model -> the overrides its paper implies. Equalised-lr models need their paper's Adam: their
# weights are stored as N(0, 1) and scaled at run time, so lr is each step's relative size.
PAPERS = {
    "progan": ("optim=adam_progan", "loss=wgan_gp_drift"),     # Karras et al. 2018
    "stylegan": ("optim=adam_stylegan", "loss=nonsaturating_r1"),  # Karras et al. 2020
    "biggan": ("optim=adam_biggan", "loss=hinge", "train.d_steps=4"),  # Brock et al. 2019 (CIFAR script)
}


def with_paper(args: list[str]) -> list[str]:
    """args with paper_overrides(args) placed right after model=<name>, among the other overrides
    (argparse refuses overrides placed after a flag such as --cfg job)."""
    extra = paper_overrides(args)
    if not extra:
        return list(args)
    at = max(i for i, a in enumerate(args) if a.partition("=")[0].lstrip("+~") == "model") + 1
    return [*args[:at], *extra, *args[at:]]


def paper_overrides(args) -> list[str]:
    """The overrides that the command line's model=<name> brings and the command line has not
    given itself; none for a sweep over models (name optim and loss there)."""
    chosen = [a.partition("=")[2] for a in args if a.partition("=")[0].lstrip("+~") == "model"]
    if not chosen or chosen[-1] not in PAPERS:
        return []
    # only the group itself: optim.g.lr=... keeps the paper's optimizer and changes its lr
    given = {a.partition("=")[0].lstrip("+~") for a in args if "=" in a}
    return [o for o in PAPERS[chosen[-1]] if o.partition("=")[0] not in given]
