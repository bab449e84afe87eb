"""train.precision, train.channels_last and train.compile on the CPU (the GPU path's code runs here)."""

import logging

import pytest
import torch
from conftest import TINY, compose_train, one_line_error, run_gan

from gan_cli.run import resume_from, setup, train
from gan_cli.rundir import read_checkpoint

MNIST = ["data=mnist", "data.download=false"]
ON = {"mlp": ["data=ring8", "data.n_points=500"], "dcgan": MNIST + ["model.g.width=8", "model.d.width=8"],
      "slides_mnist": MNIST}


def out_dtypes(cfg, steps=1):
    """Train a few steps in-process and record the dtype of D's and G's outputs."""
    torch.manual_seed(0)
    data, _, method, _ = setup(cfg, torch.device("cpu"))
    seen = []
    for name in ("G", "D"):
        method.nets[name].register_forward_hook(lambda m, i, o, name=name: seen.append((name, o.dtype)))
    stats = [method.step(data, it) for it in range(1, steps + 1)]
    return set(seen), stats, method


@pytest.mark.parametrize("model", ["mlp", "dcgan", "slides_mnist"])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_16_bit_forward_passes_on_every_model(model, precision, data_dir):
    cfg = compose_train(TINY + ON[model] + [f"model={model}", f"train.precision={precision}"])
    seen, stats, _ = out_dtypes(cfg, steps=2)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert seen == {("G", dtype), ("D", dtype)}  # autocast is on around both nets' forward passes
    assert all(torch.isfinite(v) for s in stats for v in s.values())


# Every model and every method, small: each trains a few steps under bf16 and fp16 (stylegan's
# w_avg update once met a bf16 tensor under autocast and raised).
EVERY = {"progan": MNIST + ["model=progan", "loss=wgan_gp_drift", "model.z_dim=8", "model.g.width=8",
                            "model.d.width=8"],
         "stylegan": MNIST + ["model=stylegan", "loss=nonsaturating_r1", "model.z_dim=8", "model.g.width=8",
                              "model.d.width=8", "model.g.w_dim=8", "model.g.mapping_layers=2"],
         "biggan": MNIST + ["model=biggan", "loss=hinge", "model.z_dim=8", "model.g.width=8",
                            "model.d.width=8", "model.g.embed_dim=4"],
         "infogan": MNIST + ["method=infogan", "model.g.width=8", "model.d.width=8", "method.q.hidden=16"],
         "cyclegan": ["method=cyclegan", "model.g.width=4", "model.g.blocks=1", "model.d.width=4"],
         "discogan": ["method=discogan", "model.g.width=4", "model.d.width=4"],
         "stackgan": ["method=stackgan", "data.n_images=64", "model.g.width=8", "model.d.width=8",
                      "model.stage1_steps=2"]}  # both stages within TINY's 4 steps


@pytest.mark.parametrize("what", sorted(EVERY))
@pytest.mark.parametrize("precision", ["bf16", pytest.param("fp16", marks=pytest.mark.slow)])
def test_16_bit_training_of_every_family_and_method(what, precision, tmp_path, data_dir):
    """bf16 in the default suite, fp16 among the slow tests (make test-all): both, every family."""
    cfg = compose_train(TINY + EVERY[what] + [f"train.precision={precision}", "train.threads=1"])
    results = train(cfg, tmp_path / "run")
    assert results["status"] == "completed" and results["steps_done"] == 4, results.get("error")


def test_fp32_stays_fp32(data_dir):
    seen, _, method = out_dtypes(compose_train(TINY + ON["mlp"] + ["model=mlp"]))
    assert seen == {("G", torch.float32), ("D", torch.float32)}
    assert not method.amp.scaler.is_enabled()


@pytest.mark.parametrize("k", [1, 3])
def test_fp16_uses_one_scaler_updated_once_per_iteration(k, data_dir):
    """Two optimizers, one scaler: its growth tracker (updates since the scale last changed)
    counts one update per iteration for k = 1, and one per D step for k = 3 (the same optimizer
    may not step twice without an update in between)."""
    cfg = compose_train(TINY + ON["mlp"] + ["model=mlp", "train.precision=fp16", f"train.d_steps={k}"])
    _, _, method = out_dtypes(cfg, steps=5)
    assert method.amp.scaler._get_growth_tracker() == 5 * k
    assert method.amp.scaler.get_scale() == 2.0 ** 16


@pytest.mark.parametrize("loss", ["wgan_gp", "nonsaturating"])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_gradient_penalties_stay_finite_in_16_bit(loss, precision, tmp_path, data_dir):
    extra = ["loss.r1_gamma=10"] if loss == "nonsaturating" else []
    cfg = compose_train(TINY + ON["dcgan"] + ["model=dcgan", f"loss={loss}", f"train.precision={precision}",
                                              "train.steps=3", *extra])
    results = train(cfg, tmp_path / "run")
    assert results["status"] == "completed", results
    assert all(torch.isfinite(torch.tensor(v)) for v in results["final"].values())


def test_fp16_resume_is_exact(tmp_path, data_dir):
    """The loss scale is part of the checkpoint: N steps straight equal N/2 + resume."""
    base = TINY + ON["mlp"] + ["model=mlp", "train.precision=fp16"]
    train(compose_train(base + ["train.steps=6"]), tmp_path / "full")
    train(compose_train(base + ["train.steps=3"]), tmp_path / "part")
    train(compose_train(base + ["train.steps=6", f"train.resume={tmp_path / 'part'}"]), tmp_path / "part")
    full, part = (read_checkpoint(tmp_path / r) for r in ("full", "part"))
    assert full["scaler"]["_growth_tracker"] == part["scaler"]["_growth_tracker"] == 6
    for name in full["nets"]:
        for key, value in full["nets"][name].items():
            assert torch.equal(value, part["nets"][name][key]), (name, key)


@pytest.mark.parametrize("first,then", [("false", "true"), ("true", "false")])
def test_resume_switching_channels_last_gives_the_optimizer_state_the_weights_layout(first, then, tmp_path,
                                                                                     data_dir):
    """A resume may switch train.channels_last: Adam's moments follow the weights' new layout
    (CUDA's fused Adam refuses a parameter and a state whose strides differ)."""
    base = TINY + ON["dcgan"] + ["model=dcgan"]
    train(compose_train(base + ["train.steps=2", f"train.channels_last={first}"]), tmp_path / "run")
    cfg = compose_train(base + ["train.steps=4", f"train.channels_last={then}",
                                f"train.resume={tmp_path / 'run'}"])
    data, info, method, averaged = setup(cfg, torch.device("cpu"))
    resume_from(cfg, info, method, averaged, torch.device("cpu"))
    checked = 0
    for opt in method.opts.values():
        for p, state in opt.state.items():
            for key in ("exp_avg", "exp_avg_sq"):
                assert state[key].stride() == p.stride(), (key, p.shape)
                checked += p.dim() == 4
    assert checked > 0  # conv weights among them


def test_channels_last_weights(tmp_path, data_dir):
    cfg = compose_train(TINY + ON["dcgan"] + ["model=dcgan", "train.channels_last=true"])
    _, stats, method = out_dtypes(cfg, steps=2)
    convs = [p for net in method.nets.values() for p in net.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert train(cfg, tmp_path / "run")["status"] == "completed"


def test_compile_with_a_penalty_leaves_d_eager_with_one_warning(tmp_path, data_dir, caplog):
    """G compiles (a real torch.compile on the CPU); D, whose WGAN-GP needs double backward, stays eager."""
    cfg = compose_train(TINY + ON["mlp"] + ["model=mlp", "loss=wgan_gp", "train.compile=true",
                                            "train.d_steps=1", "train.steps=2"])
    with caplog.at_level(logging.WARNING):
        results = train(cfg, tmp_path / "run")
    assert results["status"] == "completed"
    warnings = [r.getMessage() for r in caplog.records if "train.compile" in r.getMessage()]
    assert len(warnings) == 1 and "D stays eager" in warnings[0] and "double backward" in warnings[0]
    ckpt = read_checkpoint(tmp_path / "run")
    assert not any("_orig_mod" in key for key in ckpt["nets"]["G"])  # compiled in place: same keys


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp", "dcgan", "slides_mnist"])
def test_compile_and_bf16_on_every_model(model, tmp_path, data_dir):
    cfg = compose_train(TINY + ON[model] + [f"model={model}", "train.compile=true", "train.precision=bf16",
                                            "train.channels_last=true"])
    assert train(cfg, tmp_path / "run")["status"] == "completed"


def test_precision_is_checked(tmp_path):
    one_line_error(run_gan("train", "train.precision=fp8", f"hydra.run.dir={tmp_path}"),
                   "train.precision", "fp32, bf16, fp16")


def test_the_training_step_reads_nothing_back_from_the_device(data_dir, monkeypatch):
    """No host-device synchronisation in the step: on the CPU, by refusing every way a tensor's
    value reaches Python (.item(), float(), bool(), .tolist()) while steps run."""
    cfg = compose_train(TINY + ON["dcgan"] + ["model=dcgan"])
    torch.manual_seed(0)
    data, _, method, _ = setup(cfg, torch.device("cpu"))

    method.step(data, 1)  # creates the optimizers' state
    # Adam's step counter is a CPU tensor that it reads on the CPU by design (on CUDA the fused
    # kernel keeps it on the device): the only value allowed out.
    counters = {id(state["step"]) for opt in method.opts.values() for state in opt.state.values()}
    originals = {name: getattr(torch.Tensor, name) for name in ("item", "tolist", "__float__", "__bool__",
                                                                 "__int__")}

    def guard(name):
        def read(self, *args, **kwargs):
            if id(self) not in counters:
                raise AssertionError(f"Tensor.{name}: a value was read back to the host in the step")
            return originals[name](self, *args, **kwargs)
        return read

    for name in originals:
        monkeypatch.setattr(torch.Tensor, name, guard(name))
    for it in range(2, 4):
        method.step(data, it)


def test_deterministic_kernels_for_the_run_only(tmp_path, data_dir):
    """train.deterministic turns on torch's deterministic algorithms for the run (and resume stays
    exact with it); a run without it leaves them off."""
    base = TINY + ON["dcgan"] + ["model=dcgan"]
    results = train(compose_train(base + ["train.deterministic=true"]), tmp_path / "det")
    assert results["status"] == "completed"
    assert torch.are_deterministic_algorithms_enabled()
    train(compose_train(base), tmp_path / "plain")
    assert not torch.are_deterministic_algorithms_enabled()
