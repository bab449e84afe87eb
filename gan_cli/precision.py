"""train.precision: how a method's forward passes and updates run (fp32, bf16 or fp16).

Every method updates its networks through `Precision.minimize(loss, opt)`, so that one place
owns the loss scaler and the gradient average across ranks (gan_cli/distributed.py):

    with amp.autocast():           forward passes in bf16/fp16 where autocast deems it safe
        loss = ...
    amp.minimize(loss, opt)        zero_grad, (scaled) backward, average grads over ranks, step
    amp.update()                   once per iteration: the fp16 scaler adjusts its scale

fp16 uses one GradScaler for all optimizers (PyTorch AMP docs, "multiple models, losses and
optimizers"): each optimizer skips its own step when its gradients hold inf/NaN, and update()
runs once per iteration, and also before an optimizer steps a second time in one iteration
(k > 1 D steps), which GradScaler does not allow without an update in between.
bf16 has fp32's exponent range and needs no scaler. Gradient
penalties (WGAN-GP, R1) run in fp32 (gan_cli/losses.py), so double backward stays finite.
"""

import torch

from gan_cli.distributed import average_gradients

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    def __init__(self, name: str, device):  # a torch.device or its name
        self.name, self.device_type, self.dtype = name, torch.device(device).type, PRECISIONS[name]
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=name == "fp16")
        self.stepped = set()  # optimizers stepped since the last update()

    def autocast(self):
        """Autocast to the 16-bit type around forward passes (a no-op for fp32)."""
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32,
                              enabled=self.dtype is not None)

    def minimize(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        """One update of opt's parameters on loss."""
        if id(opt) in self.stepped:
            self.update()
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        average_gradients(p for group in opt.param_groups for p in group["params"])
        self.scaler.step(opt)
        self.stepped.add(id(opt))

    def update(self) -> None:
        if self.stepped:
            self.scaler.update()
        self.stepped.clear()

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.scaler.load_state_dict(state)
