"""
Training speed with each batched forward: CoSyNE's env steps per second of wall-clock time on an env without a
compiled port, for MLP policies of growing width, with the Numba forward and with the torch forward on each device.

Where ``forward_crossover`` times one batched step's compute, this times whole generations: the env's steps, the
lanes' bookkeeping and the evolutionary operators included. The env's tuned ``cosyne.yml`` settings are used with
two hidden tanh layers of each width, on ``--lanes`` lanes of a ``DummyVecEnv``. The two forwards are not
bit-identical, so their runs part after a while and run other episodes: steps per second is compared, not
generations per second. After one warm-up generation (Numba's compilation, CUDA's start-up), ``--generations``
generations are timed; each repeat uses another seed; reported are medians over the repeats and the median
per-repeat speed-up over the Numba forward.

Usage::

    python -m benchmarks.forward_training [--env LunarLander-v3] [--lanes 40] [--widths 64 256]
        [--forwards numba torch:cpu torch:cuda] [--generations 1] [--repeats 3]
"""

import argparse
import statistics

import torch as th
from stable_baselines3.common.env_util import make_vec_env

from benchmarks.scaling import GenerationClock
from sb3_cosyne import CoSyNE
from sb3_cosyne.hyperparams import tuned_or_default


def steps_per_second(env_id: str, lanes: int, width: int, forward: str, seed: int, generations: int) -> tuple[float, int]:
    """
    Train for one warm-up generation and ``generations`` timed ones.

    :param forward: ``"numba"`` or ``"torch:DEVICE"``
    :return: env steps per second over the timed generations, and the policy's number of parameters
    """
    batched_forward, _, device = forward.partition(":")
    policy, kwargs = tuned_or_default(env_id)
    kwargs["policy_kwargs"] = {**kwargs.get("policy_kwargs", {}), "net_arch": [width, width]}
    env = make_vec_env(env_id, n_envs=lanes, env_kwargs=dict(render_mode=None))
    model = CoSyNE(policy, env, seed=seed, batched_forward=batched_forward, device=device or "cpu", **kwargs)
    clock = GenerationClock(generations, list)
    try:
        model.learn(10**12, callback=clock)
    finally:
        env.close()
    (start, _), (end, _) = clock.ends[0], clock.ends[-1]
    return (clock.timesteps[-1] - clock.timesteps[0]) / (end - start), model.policy.num_params


def main() -> None:
    """Time every forward for every width, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--lanes", type=int, default=40)
    parser.add_argument("--widths", nargs="+", type=int, default=[64, 256])
    default_forwards = ["numba", "torch:cpu"] + (["torch:cuda"] if th.cuda.is_available() else [])
    parser.add_argument("--forwards", nargs="+", default=default_forwards, help="numba, or torch:DEVICE")
    parser.add_argument("--generations", type=int, default=1, help="timed generations per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every forward (seeds 0, 1, ...)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    args = parser.parse_args()
    if args.forwards[0] != "numba":
        parser.error("--forwards must start with numba, the baseline")
    th.set_num_threads(args.threads)
    lines = [
        f"{args.env}, {args.lanes} lanes, torch on the CPU with {args.threads} thread(s); medians over {args.repeats} seeds",
        "",
        "| hidden widths | parameters | forward | env steps/s | speed-up over Numba |",
        "|---|---|---|---|---|",
    ]
    for width in args.widths:
        rates: dict[str, list[float]] = {}
        for seed in range(args.repeats):
            for forward in args.forwards:
                rate, n_params = steps_per_second(args.env, args.lanes, width, forward, seed, args.generations)
                rates.setdefault(forward, []).append(rate)
                print(f"width {width}  seed {seed}  {forward:<11} {rate:10,.0f} steps/s", flush=True)
        for forward, values in rates.items():
            ratio = statistics.median(value / base for value, base in zip(values, rates["numba"], strict=True))
            lines.append(f"| {width}, {width} | {n_params:,} | {forward} | {statistics.median(values):,.0f} | {ratio:.2f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
