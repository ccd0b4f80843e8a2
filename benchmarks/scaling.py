"""
Scaling benchmark: CoSyNE's generations per second on an expensive env, evaluated in one process, on the
lanes of a ``SubprocVecEnv`` (one process per lane, stepped in lockstep), in ``SubprocVecEnv`` worker
processes running whole tasks of networks (``SubprocEvaluator``) and on Ray actors (whole tasks of networks
per actor, ``RayEvaluator``), side by side in one run. For reference, the one-process training also runs as
``--workers`` independent copies side by side, each in its own process: their summed generations per second
over one alone is what the machine gives that many processes that never wait for each other or for a main
process, the most any evaluator with that many workers can reach there.

Every configuration trains the same model (the env's tuned settings from ``cosyne.yml``, else the defaults
with ``pop_size=40``; same seed), so
they run the same episodes: the script checks that their populations end identical. After ``--warmup``
generations (at least one: process and actor start-up, Numba's cache; more to time a later stage of training,
whose episodes are longer), the wall-clock time of the next ``--generations`` generations is measured; each
repeat uses another seed and runs every configuration once, in turn, so that a change in the machine's load
touches them alike. Reported: generations per second (median over the
repeats) and the speed-up over one process (median of the per-repeat ratios); and, since wall-clock
speed-ups mean little on a machine other jobs share, the CPU seconds per generation of all the processes
that work for a configuration (this one, the worker processes or the Ray actors; Ray's own
daemons are not counted) and the CPU efficiency, one process's CPU seconds over the configuration's
(1: parallel evaluation costs no more CPU than serial).

Usage::

    python -m benchmarks.scaling --env LunarLander-v3 --workers 2 --generations 5 --repeats 3 [--warmup 1]
        [--configs "1 process" SubprocEvaluator Ray] [--splits 8 2 shrinking] [--queue-depth 1 2] [--markdown table.md]

``--splits`` compares ways of splitting a generation into tasks (a number: equal tasks, that many per worker;
``shrinking``: tasks that shrink as the generation goes on), ``--queue-depth`` the tasks a worker process holds
at once; each value or pair runs as a configuration of its own (default: the evaluators' own settings).
"""

import argparse
import contextlib
import functools
import json
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

from sb3_cosyne import CoSyNE, RayEvaluator, SubprocEvaluator
from sb3_cosyne.hyperparams import load_hyperparams, model_kwargs

#: clock ticks per second of /proc's CPU times
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux's ``/proc``)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as file:
            # The fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
            fields = file.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


class GenerationClock(BaseCallback):
    """
    Records the wall-clock time, the CPU time of this process and the worker processes, and the env steps so far
    at the end of every generation from the ``warmup``-th on, and stops training after ``generations`` more.

    :param generations: generations to record after the ``warmup``-th
    :param warmup: generations before the first recorded end
    :param worker_pids: the worker processes (asked once, at the end of the first generation)
    """

    def __init__(self, generations: int, worker_pids: Callable[[], list[int]], warmup: int = 1) -> None:
        super().__init__()
        self.generations = generations
        self.warmup = warmup
        self.finished = 0
        self.worker_pids = worker_pids
        self.pids: list[int] = []
        self.ends: list[tuple[float, float]] = []
        self.timesteps: list[int] = []

    def _on_rollout_end(self) -> None:
        self.finished += 1
        if self.finished < self.warmup:
            return
        if not self.ends:
            self.pids = self.worker_pids()
        self.ends.append((time.perf_counter(), time.process_time() + cpu_seconds(self.pids)))
        self.timesteps.append(self.num_timesteps)

    def _on_step(self) -> bool:
        # Stops at the first step of the generation after the last timed one (which is then discarded).
        return len(self.ends) <= self.generations


@dataclass
class Configuration:
    """
    How one configuration trains.

    :param make_model: builds the model for a seed
    :param worker_pids: the processes that work for it besides this one
    :param close: releases what ``make_model`` opened
    """

    make_model: Callable[[], CoSyNE]
    worker_pids: Callable[[], list[int]] = list
    close: Callable[[], None] = lambda: None


def time_generations(configuration: Configuration, generations: int, warmup: int) -> tuple[float, float, np.ndarray]:
    """
    Train a fresh model for ``warmup`` generations, then ``generations`` timed ones.

    :return: generations per second (wall clock), CPU seconds per generation (all processes) and the final population
    """
    model = configuration.make_model()
    clock = GenerationClock(generations, configuration.worker_pids, warmup)
    try:
        model.learn(10**12, callback=clock)
    finally:
        configuration.close()
    (wall_start, cpu_start), (wall_end, cpu_end) = clock.ends[0], clock.ends[-1]
    return generations / (wall_end - wall_start), (cpu_end - cpu_start) / generations, model.strategy.population


class BusyClock(GenerationClock):
    """
    A ``GenerationClock`` that, after its timed generations, keeps training until every other independent run
    has timed its own (``runs_done`` holds one entry per run done), so that each run is timed under the others' load.
    """

    def __init__(self, generations: int, warmup: int, runs_done, n_runs: int) -> None:
        super().__init__(generations, list, warmup)
        self.runs_done, self.n_runs, self.others_running = runs_done, n_runs, True

    def _on_rollout_end(self) -> None:
        super()._on_rollout_end()
        if len(self.ends) == self.generations + 1:
            self.runs_done.append(os.getpid())
            self.population = self.model.strategy.population.copy()
        if len(self.ends) > self.generations:
            # Asked once per generation: a manager's proxy call costs far more than a step.
            self.others_running = len(self.runs_done) < self.n_runs

    def _on_step(self) -> bool:
        return len(self.ends) <= self.generations or self.others_running


def independent_run(
    make_model: Callable[[], CoSyNE], generations: int, warmup: int, runs_done, n_runs: int
) -> tuple[float, float, np.ndarray]:
    """
    One of ``n_runs`` single-process trainings run side by side in their own processes (in a child process).

    :return: its generations per second, CPU seconds per generation and final population, over its timed generations
    """
    clock = BusyClock(generations, warmup, runs_done, n_runs)
    model = make_model()
    model.learn(10**12, callback=clock)
    (wall_start, cpu_start), (wall_end, cpu_end) = clock.ends[0], clock.ends[generations]
    return generations / (wall_end - wall_start), (cpu_end - cpu_start) / generations, clock.population


def time_independent_runs(make_model: Callable[[], CoSyNE], n_runs: int, generations: int, warmup: int):
    """
    ``n_runs`` copies of the one-process training side by side, each in its own process: what the machine gives
    ``n_runs`` processes that never wait for each other, the most any evaluator of ``n_runs`` workers can reach.

    :return: their summed generations per second, their median CPU seconds per generation and the first's population
    """
    context = multiprocessing.get_context("forkserver")
    with context.Manager() as manager, ProcessPoolExecutor(n_runs, mp_context=context) as pool:
        runs_done = manager.list()
        runs = [pool.submit(independent_run, make_model, generations, warmup, runs_done, n_runs) for _ in range(n_runs)]
        results = [run.result() for run in runs]
    return sum(rate for rate, _, _ in results), statistics.median(cpu for _, cpu, _ in results), results[0][2]


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(
    env_id: str,
    workers: int,
    generations: int,
    repeats: int,
    members_per_task: int | None,
    warmup: int = 1,
    configs: list[str] | None = None,
    splits: list[str] | None = None,
    queue_depths: list[int] | None = None,
) -> dict[str, Any]:
    try:
        policy, kwargs = model_kwargs(load_hyperparams(env_id))
    except KeyError:
        # No tuned entry (BipedalWalker-v3): the defaults, with a population as large as LunarLander's.
        policy, kwargs = "MlpPolicy", dict(pop_size=40)

    def selected(name: str) -> bool:
        return name == "1 process" or not configs or any(name.startswith(prefix) for prefix in configs)

    def make_single(seed: int) -> Callable[[], CoSyNE]:
        return functools.partial(CoSyNE, policy, env_id, seed=seed, **kwargs)

    def single(seed: int) -> Configuration:
        return Configuration(make_single(seed))

    def subproc(seed: int) -> Configuration:
        # Without a render mode, as CoSyNE and the evaluators make the env (rgb_array makes LunarLander's steps dearer).
        env = make_vec_env(env_id, n_envs=workers, vec_env_cls=SubprocVecEnv, env_kwargs=dict(render_mode=None))
        return Configuration(
            lambda: CoSyNE(policy, env, seed=seed, **kwargs), lambda: [process.pid for process in env.processes], env.close
        )

    def on_evaluator(
        seed: int, evaluator: SubprocEvaluator | RayEvaluator, pids: Callable[[], list[int]], settings: dict[str, Any]
    ) -> Configuration:
        def make_model() -> CoSyNE:
            # The same workers serve every setting asked for: the class's, then this configuration's.
            for key in ("tasks_per_worker", "shrinking_tasks", "queue_depth"):
                if hasattr(type(evaluator), key):
                    setattr(evaluator, key, settings.get(key, getattr(type(evaluator), key)))
            return CoSyNE(policy, env_id, seed=seed, evaluator=evaluator, **kwargs)

        return Configuration(make_model, pids)

    def add_settings(name: str, evaluator: SubprocEvaluator | RayEvaluator, pids: Callable[[], list[int]]) -> None:
        depths = queue_depths or [None]
        for split in splits or [None]:
            for depth in depths:
                label, settings = name, {}
                if split == "shrinking":
                    label, settings = f"{label}, shrinking tasks", dict(shrinking_tasks=True)
                elif split is not None:
                    label, settings = (
                        f"{label}, {split} tasks/worker",
                        dict(tasks_per_worker=int(split), shrinking_tasks=False),
                    )
                if depth is not None:
                    label, settings = f"{label}, queue {depth}", dict(settings, queue_depth=depth)
                configurations[label] = timed(
                    functools.partial(on_evaluator, evaluator=evaluator, pids=pids, settings=settings)
                )

    def timed(configure: Callable[[int], Configuration]) -> Callable[[int], tuple[float, float, np.ndarray]]:
        return lambda seed: time_generations(configure(seed), generations, warmup)

    with contextlib.ExitStack() as stack:
        # name: seed -> (generations per second, CPU seconds per generation, final population)
        configurations: dict[str, Callable[[int], tuple[float, float, np.ndarray]]] = {"1 process": timed(single)}
        if selected(name := f"Independent runs, {workers} processes side by side"):
            configurations[name] = lambda seed: time_independent_runs(make_single(seed), workers, generations, warmup)
        if selected(name := f"SubprocVecEnv, {workers} lanes"):
            configurations[name] = timed(subproc)
        if selected(name := f"SubprocEvaluator, {workers} processes"):
            processes = SubprocEvaluator(env_id, n_workers=workers, members_per_task=members_per_task)
            stack.callback(processes.close)
            add_settings(name, processes, lambda: processes.pids)
        if selected(name := f"Ray, {workers} CPUs"):
            # Imported only when asked for: the other configurations run without the ray extra.
            import ray

            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            stack.callback(ray.shutdown)
            actors = RayEvaluator(env_id, n_workers=workers, members_per_task=members_per_task)
            stack.callback(actors.close)

            def actor_pids() -> list[int]:
                return ray.get([actor.__ray_call__.remote(lambda _: os.getpid()) for actor in actors.actors])

            add_settings(name, actors, actor_pids)
        rates: dict[str, list[float]] = {name: [] for name in configurations}
        cpus: dict[str, list[float]] = {name: [] for name in configurations}
        # whether each configuration ended with the one-process run's population, every repeat
        same: dict[str, bool] = dict.fromkeys(configurations, True)
        loads = [load_average()]
        for seed in range(repeats):
            reference = None
            for name, measure in configurations.items():
                rate, cpu, population = measure(seed)
                rates[name].append(rate)
                cpus[name].append(cpu)
                reference = population if reference is None else reference
                same[name] &= np.array_equal(population, reference)
                print(
                    f"seed {seed}  {name:<30} {rate:7.3f} generations/s  {cpu:7.3f} CPU s/generation  (load {load_average()})",
                    flush=True,
                )
            loads.append(load_average())

    def median_ratio(values: list[float], baseline: list[float]) -> float:
        return statistics.median(value / base for value, base in zip(values, baseline, strict=True))

    rows = [
        {
            "configuration": name,
            "median generations/s": statistics.median(rates[name]),
            "speed-up": median_ratio(rates[name], rates["1 process"]),
            "median CPU s/generation": statistics.median(cpus[name]),
            "CPU efficiency": median_ratio(cpus["1 process"], cpus[name]),
            "generations/s per repeat": rates[name],
            "CPU s/generation per repeat": cpus[name],
            "population as 1 process's": bool(same[name]),
        }
        for name in configurations
    ]
    return {
        "env": env_id,
        "workers": workers,
        "generations": generations,
        "warmup": warmup,
        "repeats": repeats,
        "members_per_task": members_per_task,
        "splits": splits,
        "queue depths": queue_depths,
        "settings": kwargs,
        "identical populations": all(same.values()),
        "load averages (1, 5, 15 min)": loads,
        "rows": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| configuration | median generations/s | speed-up over 1 process "
        "| CPU s per generation, all processes | CPU efficiency |",
        "|---|---|---|---|---|",
        *(
            f"| {row['configuration']} | {row['median generations/s']:.3g} | {row['speed-up']:.2f} "
            f"| {row['median CPU s/generation']:.3g} | {row['CPU efficiency']:.2f} |"
            for row in report["rows"]
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="LunarLander-v3", help="env id (its cosyne.yml settings, if it has an entry)")
    parser.add_argument("--workers", type=int, default=2, help="SubprocVecEnv lanes, worker processes and Ray CPUs")
    parser.add_argument("--generations", type=int, default=5, help="timed generations per run")
    parser.add_argument("--warmup", type=int, default=1, help="generations before the timed ones (at least 1)")
    parser.add_argument(
        "--configs", nargs="+", help="only the configurations whose names start with these (1 process is always run)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of every configuration (seeds 0, 1, ...)")
    parser.add_argument("--members-per-task", type=int, default=None, help="the evaluators' members_per_task")
    parser.add_argument(
        "--splits",
        nargs="+",
        help="ways to split a generation into tasks, one configuration each: a number (equal tasks, that many per worker)"
        " or 'shrinking' (default: the evaluators' own)",
    )
    parser.add_argument(
        "--queue-depth", type=int, nargs="+", help="tasks an evaluator's worker holds at once, one configuration each"
    )
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    args = parser.parse_args()
    if args.warmup < 1:
        parser.error("--warmup must be at least 1")
    report = run(
        args.env,
        args.workers,
        args.generations,
        args.repeats,
        args.members_per_task,
        args.warmup,
        args.configs,
        args.splits,
        args.queue_depth,
    )
    table = markdown(report)
    print(table)
    print(f"identical populations across configurations: {report['identical populations']}")
    print(f"load averages during the run: {report['load averages (1, 5, 15 min)']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
