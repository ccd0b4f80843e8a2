"""
Forward crossover benchmark: from which policy size the torch batched forward beats the Numba one.

Times one batched step's compute as the VecEnv path runs it, env excluded: for Numba, the fused lane step
(normalisation, forward, argmax) of every lane; for torch, the same lane step without the forward, the torch
forward on the device (inputs to it, outputs back) and the argmax. The networks are MLPs with two hidden tanh layers
of the given width on BipedalWalker's spaces (24 inputs, 4 outputs); every lane holds another network of the
population. Times are medians over ``--repeats`` rounds of ``--steps`` steps: process CPU time on the CPU (one
torch thread by default, as Numba's forward is single-threaded), wall time on a GPU (which works asynchronously).

Usage::

    python -m benchmarks.forward_crossover [--widths 16 64 256 1024] [--lanes 8 40] [--devices cpu cuda]
"""

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch as th
from gymnasium import spaces

from sb3_cosyne.algorithm.policies import MlpPolicy
from sb3_cosyne.evaluation.lane_step import ACTION, JOB, MEAN, STD, LaneNetworks, LaneOutputs, Lanes, advance_lanes
from sb3_cosyne.networks.torch_forward import TorchForward

OBSERVATION_SPACE = spaces.Box(-np.inf, np.inf, shape=(24,), dtype=np.float32)
ACTION_SPACE = spaces.Discrete(4)


def timed(step: Callable[[], None], steps: int, repeats: int, wall: bool) -> float:
    """Median seconds per call of ``step`` over ``repeats`` rounds of ``steps`` calls (after one warm-up round)."""
    clock = time.perf_counter if wall else time.process_time
    rounds = []
    for _ in range(repeats + 1):
        start = clock()
        for _ in range(steps):
            step()
        rounds.append((clock() - start) / steps)
    return statistics.median(rounds[1:])


def step_functions(width: int, lanes: int, device: str) -> tuple[int, Callable[[], None], Callable[[], None]]:
    """
    The policy's size and one batched step with each forward.

    :return: number of parameters, the Numba step, the torch step
    """
    policy = MlpPolicy(OBSERVATION_SPACE, ACTION_SPACE, net_arch=[width, width])
    rng = np.random.default_rng(0)
    population = rng.uniform(-1, 1, size=(lanes, policy.num_params))
    lane_info = np.zeros((lanes, 3), dtype=np.int64)
    lane_info[:, JOB] = np.arange(lanes)
    lane_out = np.zeros((lanes, 4))
    inputs = rng.normal(size=(lanes, policy.obs_dim))
    stats = np.zeros((6, policy.obs_dim))
    stats[MEAN], stats[STD] = 0.0, 1.0
    lane_arrays = Lanes(lane_info, lane_out, inputs, population, stats, True, np.inf)
    architecture = (policy.layer_sizes, policy.with_bias, policy.activation_code)
    outputs = np.zeros((lanes, 4))
    net_inputs = np.zeros((lanes, policy.obs_dim))
    # Discrete actions: no Box bounds
    no_box = np.zeros((3, 0))
    numba_target, torch_target = LaneOutputs(outputs, 0, no_box), LaneOutputs(net_inputs, 0, no_box)
    box = np.zeros((lanes, 0))
    forward = TorchForward(policy.network, lanes, device)
    forward.load(population)
    for lane in range(lanes):
        forward.assign(lane, lane)

    def numba_step() -> None:
        advance_lanes(False, lane_arrays, LaneNetworks(*architecture, True), numba_target, box)

    def torch_step() -> None:
        advance_lanes(False, lane_arrays, LaneNetworks(*architecture, False), torch_target, box)
        outputs[:], _ = forward(net_inputs)
        lane_info[:, ACTION] = outputs.argmax(axis=1)

    return policy.num_params, numba_step, torch_step


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", nargs="+", type=int, default=[16, 32, 64, 128, 256, 512, 1024])
    parser.add_argument("--lanes", nargs="+", type=int, default=[8, 40])
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"] if th.cuda.is_available() else ["cpu"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=0, help="steps per round (0: about 0.2 s of Numba time)")
    return parser.parse_args()


def main() -> None:
    """Time both forwards for every width, lane count and device, and print the table."""
    args = parse_args()
    th.set_num_threads(args.threads)
    lines = [
        "| device | lanes | hidden widths | parameters | Numba µs/step | torch µs/step | torch speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for device in args.devices:
        for lanes in args.lanes:
            crossover = None
            for width in args.widths:
                n_params, numba_step, torch_step = step_functions(width, lanes, device)
                probe = timed(numba_step, 3, 1, wall=False)
                steps = args.steps or max(3, min(20_000, int(0.2 / max(probe, 1e-7))))
                numba_s = timed(numba_step, steps, args.repeats, wall=False)
                torch_s = timed(torch_step, steps, args.repeats, wall=device != "cpu")
                if crossover is None and torch_s < numba_s:
                    crossover = (width, n_params)
                lines.append(
                    f"| {device} | {lanes} | {width}, {width} | {n_params:,} | {1e6 * numba_s:,.1f} | {1e6 * torch_s:,.1f} "
                    f"| {numba_s / torch_s:.2f} |"
                )
                print(lines[-1], flush=True)
            where = (
                "none of the sizes measured" if crossover is None else f"width {crossover[0]} ({crossover[1]:,} parameters)"
            )
            print(f"{device}, {lanes} lanes: torch first faster at {where}", flush=True)
    torch_clock = "CPU time; on CUDA wall time" if "cuda" in args.devices else "CPU time"
    lines.append("")
    lines.append(
        f"Medians over {args.repeats} rounds; Numba: process CPU time; torch ({args.threads} thread(s)): {torch_clock}."
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
