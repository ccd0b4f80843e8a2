"""
What a task costs beyond its episodes: the round trip of one task through each evaluator's pool (sent, run,
answered), for a task whose episode takes microseconds (one CartPole episode of a network that fails at once,
on the compiled fast path), and the CPU time it takes in this process and in the worker.

Tasks are sent one at a time, back to back, then with a pause before each (the worker idle meanwhile, as between
two generations), so the queue plays no part. One worker: a worker process of ``SubprocEvaluator``, or an actor of
``RayEvaluator`` on a local Ray of 1 CPU. Reported: median round trip and mean CPU milliseconds per task.

Usage::

    python -m benchmarks.task_round_trip [--tasks 300] [--pause-ms 5] [--backends SubprocEvaluator Ray]
"""

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

from benchmarks.scaling import cpu_seconds
from sb3_cosyne import CoSyNE, RayEvaluator, SubprocEvaluator
from sb3_cosyne.evaluation.evaluator import Block, QueuedPool


def round_trips(pool: QueuedPool, args: tuple, n_tasks: int, pause_s: float, worker_pid: int) -> dict[str, float]:
    """
    Send ``n_tasks`` tasks one after the other, ``pause_s`` seconds apart.

    :return: the median round trip, and the mean CPU time per task here and in the worker, in milliseconds
    """
    trips = []
    cpu_here, cpu_worker = time.process_time(), cpu_seconds([worker_pid])
    for _ in range(n_tasks):
        if pause_s:
            time.sleep(pause_s)
        start = time.perf_counter()
        pool.submit(args)
        pool.next_result()
        trips.append(time.perf_counter() - start)
    return {
        "round trip ms (median)": 1e3 * statistics.median(trips),
        "CPU ms per task, main process": 1e3 * (time.process_time() - cpu_here) / n_tasks,
        "CPU ms per task, worker": 1e3 * (cpu_seconds([worker_pid]) - cpu_worker) / n_tasks,
    }


def measure(backend: str, n_tasks: int, pause_s: float) -> list[dict[str, Any]]:
    """Both kinds of round trip for one worker of ``backend``."""
    policy = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=4).policy
    # A network that pushes one way: the pole falls within about ten steps.
    params = np.zeros((1, policy.num_params))
    args = (0, Block(slice(0, 1), slice(0, 1)), params, np.zeros((1, 1), dtype=np.int64), (None, None))
    if backend == "Ray":
        import ray

        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
        evaluator = RayEvaluator("CartPole-v1", n_workers=1)
    else:
        evaluator = SubprocEvaluator("CartPole-v1", n_workers=1)
    try:
        evaluator.setup(policy.network, fast_path=True)
        if backend == "Ray":
            worker_pid = ray.get(evaluator.actors[0].__ray_call__.remote(lambda _: os.getpid()))
        else:
            worker_pid = evaluator.pids[0]
        round_trips(evaluator._pool, args, 20, 0.0, worker_pid)  # warm-up
        return [
            {
                "backend": backend,
                "worker idle before each task": label,
                **round_trips(evaluator._pool, args, n_tasks, pause, worker_pid),
            }
            for label, pause in (("no", 0.0), (f"{1e3 * pause_s:g} ms", pause_s))
        ]
    finally:
        evaluator.close()
        if backend == "Ray":
            ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=300, help="tasks per measure")
    parser.add_argument("--pause-ms", type=float, default=5.0, help="pause before each task of the second measure")
    parser.add_argument("--backends", nargs="+", default=["SubprocEvaluator", "Ray"], choices=["SubprocEvaluator", "Ray"])
    args = parser.parse_args()
    rows = [row for backend in args.backends for row in measure(backend, args.tasks, args.pause_ms / 1e3)]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{value:.2f}" if isinstance(value, float) else str(value) for value in row.values()) + " |")


if __name__ == "__main__":
    main()
