"""The capacity simulator over a whole trial period: time per policy, and repeatability.

Not a test: a script that prints figures. It runs 第5期 (34,315 published calls over 20
days, synthetic from trials.yaml) on the lines of config/menus.yaml under each policy, twice
with the same seed, and prints the CPU time of each run and whether the two agree.
Target: the three policies in under 10 s.

    .venv/bin/python bench/simulate.py [--period period_5] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hotline import config as config_mod
from hotline.simulate import demand, model, results, run, supply

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--period", default="period_5")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    cfg = config_mod.load(ROOT / "config" / "menus.yaml")
    sim_model, trials = model.load_model(), model.load_trials()
    print("as model.yaml splits the calls (most choose no option):")
    bench(cfg, sim_model, trials, args)
    # The worst case for time: every published call queues for an option.
    split = sim_model.demand[args.period]
    queued = {k: v for k, v in split.shares.items() if k != model.NO_OPTION}
    sim_model = sim_model.model_copy(
        update={"demand": {args.period: split.model_copy(update={"shares": queued})}}
    )
    print("every call choosing an option:")
    bench(cfg, sim_model, trials, args)


def bench(cfg, sim_model, trials, args) -> None:  # type: ignore[no-untyped-def]
    t = trials[args.period]
    started = time.process_time()
    load = demand.synthetic(
        cfg,
        sim_model,
        period_id=args.period,
        calls=t["calls"],
        rates=model.published_rates(sim_model, trials, args.period),
        overall=t["answer_rate"],
        seed=args.seed,
    )
    print(
        f"  demand: {len(load.callers)} callers queue, {load.no_option} choose no option, "
        f"{time.process_time() - started:.2f} s"
    )
    lines = supply.from_config(cfg)
    total = 0.0
    for policy in supply.POLICIES:
        figures = []
        for _ in range(2):
            started = time.process_time()
            out = run.simulate(cfg, sim_model, load, lines, policy, seed=args.seed)
            took = time.process_time() - started
            figures.append(results.summarise(out))
        total += took
        same = "identical" if figures[0] == figures[1] else "DIFFERENT"
        f = figures[0]["total"]
        print(
            f"  {policy:<7} {len(out.attempts):>6} attempts, {f['connected']:>5} connected, "
            f"{took:.2f} s CPU; two runs {same}"
        )
    print(f"  three policies: {total:.2f} s CPU")


if __name__ == "__main__":
    main()
