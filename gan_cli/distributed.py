"""Data-parallel training across processes (torchrun), without wrapping the networks.

The StyleGAN2-ADA pattern rather than DDP(G), DDP(D): parameters are broadcast from rank 0 at
the start, and after every backward each gradient is averaged over the ranks before the
optimizer steps (Precision.minimize calls average_gradients). G and D then stay identical on
every rank, their attributes (z_dim, conditional, ...) stay reachable, and a method needs no
distributed code. Each rank draws its own real batches and noise (seed * world + rank).
Batch-norm running statistics stay per rank; rank 0's are the ones checkpointed and sampled.
With one process every function here is a no-op.
"""

import datetime
import os

import torch
import torch.distributed as dist

# Evaluation runs on rank 0 alone while the others wait in the broadcast of its figures:
# the default 10-30 min collective timeout must cover the longest evaluation.
TIMEOUT = datetime.timedelta(hours=2)


def world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def launched() -> bool:
    """True in a process that torchrun started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init() -> None:
    """Join torchrun's process group (env://): gloo for CPU tensors, nccl for CUDA ones."""
    if launched() and not dist.is_initialized():
        # torch._dynamo imported after the group exists (torchvision imports it) keeps the group
        # alive past destroy_process_group: its gloo threads then outlive the interpreter, and 2
        # exits in about 180 aborted ("terminate called without an active exception", SIGABRT).
        import torch._dynamo  # noqa: F401
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=TIMEOUT)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())


def local_device(device: torch.device) -> torch.device:
    """cuda -> this rank's GPU (LOCAL_RANK) under torchrun."""
    if device.type == "cuda" and launched():
        return torch.device("cuda", torch.cuda.current_device())
    return device


def average_gradients(params) -> None:
    """grad <- mean over ranks of grad, for every parameter that has one (one flat all_reduce)."""
    if world() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat.div_(world())  # an inf stays: fp16's scaler must see it on every rank to skip the step
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_nets(nets: dict) -> None:
    """Every rank starts from rank 0's parameters and buffers."""
    if world() == 1:
        return
    for net in nets.values():
        for t in list(net.parameters()) + list(net.buffers()):
            dist.broadcast(t.data, 0)


def any_rank(flag: bool, device) -> bool:
    """True on every rank when flag is true on any (stop requests, divergence): all ranks leave
    the loop at the same step, so that none waits for a collective the others never join."""
    return bool(largest(int(flag), device))


def largest(value: int, device) -> int:
    """The largest of every rank's value, on every rank (a stop request's signal number: a rank
    that got no signal learns which one another rank got)."""
    if world() == 1:
        return value
    t = torch.tensor([float(value)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def gather(obj) -> list:
    """obj from every rank, in rank order (on every rank)."""
    if world() == 1:
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj):
    """Rank 0's obj on every rank."""
    if world() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def finish() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def in_sync(nets: dict) -> bool:
    """Whether every rank holds exactly rank 0's parameters (they should: the same averaged
    gradients reach the same optimizers). Recorded in results.json under torchrun."""
    if world() == 1:
        return True
    same, device = True, None
    for net in nets.values():
        params = [p.detach().flatten() for p in net.parameters()]
        if not params:  # buffers only (an image pool): each rank keeps its own
            continue
        flat = torch.cat(params)
        device = flat.device
        ref = flat.clone()
        dist.broadcast(ref, 0)
        same = same and torch.equal(flat, ref)
    return not any_rank(not same, device)


def join_submitit_tasks() -> None:
    """hydra/launcher=submitit_slurm (or submitit_local) with several tasks per job: each task
    becomes a rank, through submitit's own description of the job (MASTER_ADDR from the first
    host, RANK from SLURM_PROCID, ...). A no-op outside such a job or under torchrun."""
    if "SUBMITIT_EXECUTOR" not in os.environ or launched():
        return
    import submitit

    if submitit.JobEnvironment().num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        init()
