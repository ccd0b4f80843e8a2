"""
The vectorisable ``tanh`` of the Numba forward against libm's, side by side in one run: nanoseconds per value
in a compiled loop over ``--size`` arguments (normal, of standard deviation ``--scale``), and the largest
difference in ulp. Medians of ``--repeats`` measures.

Usage::

    python -m benchmarks.tanh_speed [--size 1000] [--scale 1.0] [--repeats 5]
"""

import argparse
import statistics
import time

import numpy as np
from numba import njit

from sb3_cosyne.networks.activations import tanh


@njit(cache=True, error_model="numpy")
def tanh_loop(values: np.ndarray, out: np.ndarray) -> None:
    """``out = tanh(values)`` with the forward's ``tanh``."""
    for i in range(values.shape[0]):
        out[i] = tanh(values[i])


@njit(cache=True, error_model="numpy")
def libm_loop(values: np.ndarray, out: np.ndarray) -> None:
    """``out = tanh(values)`` with libm's ``tanh`` (Numba calls libm for ``np.tanh`` of a scalar)."""
    for i in range(values.shape[0]):
        out[i] = np.tanh(values[i])


def ulp_difference(ours: np.ndarray, libm: np.ndarray) -> np.ndarray:
    """How many ulp of libm's value each of ours lies from it."""
    return np.abs(ours - libm) / np.spacing(np.abs(libm))


def ns_per_value(loop, values: np.ndarray, min_seconds: float = 0.2) -> float:
    out = np.empty_like(values)
    loop(values, out)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        loop(values, out)
        calls += 1
    return 1e9 * (time.perf_counter() - start) / (calls * values.size)


def measure(size: int, scale: float, repeats: int, seed: int = 0) -> dict[str, float]:
    values = np.random.default_rng(seed).standard_normal(size) * scale
    ours, libm = np.empty_like(values), np.empty_like(values)
    tanh_loop(values, ours)
    libm_loop(values, libm)
    runs = [(ns_per_value(tanh_loop, values), ns_per_value(libm_loop, values)) for _ in range(repeats)]
    ours_ns, libm_ns = (statistics.median(run[i] for run in runs) for i in range(2))
    return {
        "ours ns": ours_ns,
        "libm ns": libm_ns,
        "libm / ours": libm_ns / ours_ns,
        "max ulp": float(ulp_difference(ours, libm).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--scale", type=float, nargs="+", default=[0.3, 1.0, 3.0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("| argument std | ours ns/value | libm ns/value | libm / ours | max ulp |\n|---|---|---|---|---|")
    for scale in args.scale:
        result = measure(args.size, scale, args.repeats)
        print(
            f"| {scale:g} | {result['ours ns']:.2f} | {result['libm ns']:.2f} | {result['libm / ours']:.1f}× "
            f"| {result['max ulp']:g} |"
        )


if __name__ == "__main__":
    main()
