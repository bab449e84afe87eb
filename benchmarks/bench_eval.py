"""Cost of one evaluation at the default settings against the training between two evaluations.

    python benchmarks/bench_eval.py [--steps 200] [overrides ...]

Times `train.steps` generator steps of the real loop (no evaluation), scales that to
`eval.every` steps, and times one evaluation (median of 3) of the default metrics on
`eval.n_samples` samples. The feature classifier is trained (or loaded from its cache)
first and is not counted: it happens once per dataset, not once per evaluation.
"""

import argparse
import statistics
import tempfile
import time

from bench_train import compose

from gan_cli.config import resolve_device
from gan_cli.data import load_data
from gan_cli.evaluate import make_evaluator
from gan_cli.models import build_models
from gan_cli.run import feature_cache, train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("overrides", nargs="*", default=["model=dcgan", "data=mnist"])
    args = parser.parse_args()
    cfg = compose(args.overrides + [f"train.steps={args.steps}", "train.progress=log", "eval=off"])
    full = compose(args.overrides)
    device = resolve_device(cfg.device)
    with tempfile.TemporaryDirectory() as out:
        per_step = train(cfg, out)["loop_s"] / args.steps
    data = load_data(full.data, device)
    G, _ = build_models(full.model, data.shape, device)
    evaluate, settings = make_evaluator(data, full.eval, feature_cache(full))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        evaluate(G)
        times.append(time.perf_counter() - t0)
    one_eval, between = statistics.median(times), per_step * full.eval.every
    print(f"\n{' '.join(args.overrides)} | metrics {settings['metrics']} | n_samples {settings['n_fake']}")
    print(f"training between evaluations: {between:7.1f} s ({full.eval.every} steps x "
          f"{per_step * 1000:.1f} ms)")
    print(f"one evaluation (median of 3): {one_eval:7.2f} s")
    print(f"cost                        : {100 * one_eval / between:6.1f} % of training (goal < 10%)")


if __name__ == "__main__":
    main()
