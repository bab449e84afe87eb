"""Each dataset brings a recipe (model, optimizer, batch, steps); the command line still wins."""

import pytest
from conftest import TINY, compose_train

from gan_cli.run import train


@pytest.mark.parametrize("data, model, lr, batch, steps", [
    ("ring8", "mlp", 1e-3, 1024, 20000), ("grid25", "mlp", 1e-3, 512, 20000),
    ("mnist", "dcgan", (1e-3, 2e-4), 64, 2000), ("fashion_mnist", "dcgan", 2e-4, 64, 3000),
    ("cifar10", "dcgan", 2e-4, 64, 3000), ("stacked_mnist", "dcgan", 2e-4, 64, 3000)])
def test_data_brings_its_recipe(data, model, lr, batch, steps):
    cfg = compose_train([f"data={data}"])
    g_lr, d_lr = lr if isinstance(lr, tuple) else (lr, lr)  # mnist: InfoGAN's G 1e-3, D 2e-4
    assert (cfg.model.name, cfg.optim.g.lr, cfg.optim.d.lr) == (model, g_lr, d_lr)
    assert (cfg.train.batch_size, cfg.train.steps) == (batch, steps)
    assert cfg.train.lr_decay_from == (0.5 if data == "mnist" else 1.0)  # measured on mnist only


def test_the_command_line_overrides_each_part_of_a_recipe():
    cfg = compose_train(["data=ring8", "model=dcgan", "optim=sgd", "train.steps=7", "train.batch_size=5"])
    assert (cfg.model.name, cfg.optim.g.name, cfg.train.steps, cfg.train.batch_size) == ("dcgan", "sgd", 7, 5)
    wgan = compose_train(["data=grid25", "loss=wgan"])  # a loss that brings its paper's optimizer keeps it
    assert (wgan.model.name, wgan.optim.g.name, wgan.optim.g.lr) == ("mlp", "rmsprop", 5e-5)
    assert wgan.train.d_steps == 5
    assert compose_train(["optim=adam_mixture"]).optim.d.lr == 1e-3


@pytest.mark.parametrize("data", ["mnist", "fashion_mnist"])
def test_infogan_brings_its_papers_batch(data):
    """method=infogan trains at openai/InfoGAN's batch of 128 over any dataset's recipe; the
    command line still wins."""
    assert compose_train(["method=infogan", f"data={data}"]).train.batch_size == 128
    assert compose_train(["method=infogan", "train.batch_size=64"]).train.batch_size == 64


def test_sweep_presets_start_from_the_recipe():
    cfg = compose_train(["sweep=seeds"])
    assert (cfg.data.name, cfg.model.name, cfg.optim.g.lr, cfg.train.steps) == ("ring8", "mlp", 1e-3, 1500)
    mnist = compose_train(["sweep=seeds", "data=mnist"])
    assert (mnist.model.name, mnist.optim.g.lr, mnist.model.g.hidden) == ("dcgan", 1e-3, 1024)


def test_recipe_runs_a_few_steps(tmp_path):
    cfg = compose_train(["data=grid25", "data.n_points=500", "optim=adam_mixture", *TINY])
    assert train(cfg, tmp_path)["status"] == "completed"
