"""
Start-up cost of CoSyNE: a first run on an empty Numba cache (cold), a later run (warm), and ``import sb3_cosyne``.

Every measure runs in fresh single-threaded Python processes, for each env of ``--envs`` (by default CartPole-v1,
which trains on the compiled fast path, and LunarLander-v3, on the VecEnv path):

* **cold**: ``examples/quickstart.py``'s job (train ``--steps`` steps, evaluate 10 episodes, save, load, evaluate)
  with ``NUMBA_CACHE_DIR`` set to an empty folder, and whether the one-line notice was printed;
* **warm**: the same job in a new process on the cache the cold run filled, then once more in that process (the
  second job runs on kernels already loaded);
* **import**: ``import sb3_cosyne`` alone;
* **Numba floor**: the first call of one small cached kernel after the import: Numba's own initialisation, which
  any process pays before its first kernel runs, however few kernels it loads.

In the cold and warm processes, the CPU seconds Numba spends making each kernel ready are recorded (compiling it
and saving it to the cache, or loading it from there): summed, they are the first run's compilation (cold) and the
start-up every later process pays (warm). All times are CPU seconds (``time.process_time``; the process's total
from ``getrusage``); the document holds the medians over ``--repeats``, and every measure.

Usage::

    python -m benchmarks.startup [--envs CartPole-v1 LunarLander-v3] [--steps 20000] [--repeats 3] [--out FILE]
"""

import argparse
import json
import os
import resource
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.provenance import REPO_ROOT, make_document, write_document
from benchmarks.time_to_solve.runner import SINGLE_THREAD_ENV

QUICKSTART = REPO_ROOT / "examples" / "quickstart.py"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "startup.json"
#: what the package prints before compiling on an empty cache
NOTICE = "compiling kernels, first run only"


def child_cpu() -> float:
    """:return: the CPU seconds (user and system) of this process's finished children so far"""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def launch(arguments: list[str], cache_dir: str) -> tuple[float, subprocess.CompletedProcess]:
    """
    Run ``python ARGUMENTS`` single-threaded on a Numba cache folder.

    :param arguments: the interpreter's arguments
    :param cache_dir: ``NUMBA_CACHE_DIR`` of the process
    :return: the process's CPU seconds, everything included, and the finished process
    """
    env = {**os.environ, **SINGLE_THREAD_ENV, "NUMBA_CACHE_DIR": cache_dir}
    before = child_cpu()
    proc = subprocess.run([sys.executable, *arguments], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"python {' '.join(arguments)} failed:\n{proc.stderr[-3000:]}")
    return child_cpu() - before, proc


def run_job(env_id: str, steps: int, cache_dir: str, workdir: str) -> dict[str, Any]:
    """
    One process running the quickstart's job twice (see :func:`child_main`).

    :return: its measures, and its total CPU seconds under ``process_cpu_s``
    """
    out = os.path.join(workdir, "measures.json")
    arguments = ["-m", "benchmarks.startup", "--child", env_id, "--steps", str(steps), "--child-out", out]
    cpu, proc = launch(arguments, cache_dir)
    measures = json.loads(Path(out).read_text())
    return {**measures, "process_cpu_s": cpu, "notice": NOTICE in proc.stderr}


def import_cpu(cache_dir: str) -> float:
    """:return: the CPU seconds ``import sb3_cosyne`` takes in a fresh process"""
    code = "import time; t = time.process_time(); import sb3_cosyne; print(time.process_time() - t)"
    return float(launch(["-c", code], cache_dir)[1].stdout.split()[-1])


def numba_floor_cpu(cache_dir: str) -> float:
    """
    :return: the CPU seconds of the first call of one cached kernel (``rank``) in a fresh process: Numba's
        initialisation, which every process pays before its first kernel runs, and loading one small kernel
    """
    code = (
        "import time; import numpy as np; from sb3_cosyne.core import kernels; fitness = np.zeros(3); "
        "t = time.process_time(); kernels.rank(fitness); print(time.process_time() - t)"
    )
    proc = launch(["-c", code], cache_dir)[1]
    if NOTICE in proc.stderr:
        raise RuntimeError("rank was not in the cache: the floor would include its compilation")
    return float(proc.stdout.split()[-1])


def measure_once(env_id: str, steps: int) -> dict[str, Any]:
    """
    One cold run, one warm run, one import and one first call of a cached kernel on a new, empty Numba cache.

    :return: the four processes' measures
    """
    workdir = tempfile.mkdtemp(prefix="startup-")
    cache_dir = os.path.join(workdir, "numba-cache")
    try:
        cold = run_job(env_id, steps, cache_dir, workdir)
        warm = run_job(env_id, steps, cache_dir, workdir)
        return {
            "cold": cold,
            "warm": warm,
            "import_cpu_s": import_cpu(cache_dir),
            "numba_floor_cpu_s": numba_floor_cpu(cache_dir),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def median_kernels(runs: list[dict[str, Any]], run: str) -> dict[str, float]:
    """:return: the median CPU seconds of each kernel in the ``run`` (cold or warm) process, largest first"""
    names = {name for measures in runs for name in measures[run]["kernels"]}
    kernels = {name: statistics.median(measures[run]["kernels"].get(name, 0.0) for measures in runs) for name in names}
    return dict(sorted(kernels.items(), key=lambda item: -item[1]))


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """
    :param runs: the measures of each repeat
    :return: the median of every number, and of every kernel's CPU seconds
    """

    def median(run: str, key: str) -> float:
        return statistics.median(measures[run][key] for measures in runs)

    return {
        "cold_process_cpu_s": median("cold", "process_cpu_s"),
        "cold_kernels_cpu_s": median("cold", "kernels_cpu_s"),
        "warm_process_cpu_s": median("warm", "process_cpu_s"),
        "warm_kernels_cpu_s": median("warm", "kernels_cpu_s"),
        "warm_first_job_cpu_s": median("warm", "first_job_cpu_s"),
        "warm_second_job_cpu_s": median("warm", "second_job_cpu_s"),
        "import_cpu_s": statistics.median(measures["import_cpu_s"] for measures in runs),
        "numba_floor_cpu_s": statistics.median(measures["numba_floor_cpu_s"] for measures in runs),
        "notice_cold": all(measures["cold"]["notice"] for measures in runs),
        "notice_warm": any(measures["warm"]["notice"] for measures in runs),
        "cold_kernels": median_kernels(runs, "cold"),
        "warm_kernels": median_kernels(runs, "warm"),
    }


def record_kernels() -> dict[str, float]:
    """
    Record, from now on, the CPU seconds Numba spends making each kernel ready for a call: compiling it and saving it
    to the cache, or loading it from the cache (``Dispatcher.compile``, which every first call of a new signature goes
    through; the first one also initialises Numba's compiler).

    :return: the CPU seconds by kernel (the outermost one, when compiling a kernel compiles others), filled as calls end
    """
    from numba.core.dispatcher import Dispatcher  # here: the measured process imports Numba with the package

    kernels: dict[str, float] = {}
    depth = [0]
    compile_kernel = Dispatcher.compile

    def timed(dispatcher: Dispatcher, sig: Any) -> Any:
        start = time.process_time()
        depth[0] += 1
        try:
            return compile_kernel(dispatcher, sig)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                name = dispatcher.py_func.__qualname__
                kernels[name] = kernels.get(name, 0.0) + time.process_time() - start

    Dispatcher.compile = timed
    return kernels


def child_main(env_id: str, steps: int, out: str) -> None:
    """
    In the measured process: import the package, then run the quickstart's job twice, and write the CPU seconds of
    each stage (and the compile times) to ``out``.
    """
    start = time.process_time()
    import sb3_cosyne  # noqa: F401

    imported = time.process_time()
    kernels = record_kernels()
    quickstart = runpy.run_path(str(QUICKSTART))["main"]
    path = os.path.join(os.path.dirname(out), "model")
    times = [time.process_time()]
    for _ in range(2):
        quickstart(env_id, steps, 0, path)
        times.append(time.process_time())
    measures = {
        "import_cpu_s": imported - start,
        "first_job_cpu_s": times[1] - times[0],
        "second_job_cpu_s": times[2] - times[1],
        "kernels_cpu_s": sum(kernels.values()),
        "kernels": kernels,
    }
    Path(out).write_text(json.dumps(measures))


#: the issue's targets, in CPU seconds: the first run's compilation and a later process's start-up
COLD_TARGET_S, WARM_TARGET_S = 5.0, 0.1


def markdown_table(document: dict[str, Any]) -> str:
    """
    The published table: per env, the medians of the first run's compilation, a later process's kernel loading (Numba's
    initialisation included), Numba's floor, the import, and the whole cold and warm processes, in CPU seconds.

    :param document: a ``startup`` results document
    """
    lines = [
        f"| env | first run: compiling (target {COLD_TARGET_S:g}) | later run: loading kernels (target "
        f"{WARM_TARGET_S:g}) | Numba's floor (one tiny kernel) | `import sb3_cosyne` | whole cold / warm process |",
        "|---|---|---|---|---|---|",
    ]
    for env_id, result in document["results"].items():
        median = result["median"]
        lines.append(
            f"| {env_id} | {median['cold_kernels_cpu_s']:.2f} | {median['warm_kernels_cpu_s']:.3f} | "
            f"{median['numba_floor_cpu_s']:.3f} | {median['import_cpu_s']:.2f} | "
            f"{median['cold_process_cpu_s']:.1f} / {median['warm_process_cpu_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "LunarLander-v3"])
    parser.add_argument("--steps", type=int, default=20_000, help="training steps of the quickstart's job")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON document to write")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.steps, args.child_out)
        return
    results = {}
    for env_id in args.envs:
        runs = []
        for repeat in range(args.repeats):
            runs.append(measure_once(env_id, args.steps))
            cold, warm = runs[-1]["cold"], runs[-1]["warm"]
            print(
                f"{env_id} #{repeat}: cold {cold['process_cpu_s']:.2f} CPU s (kernels {cold['kernels_cpu_s']:.2f}), "
                f"warm {warm['process_cpu_s']:.2f} (kernels {warm['kernels_cpu_s']:.3f}), "
                f"import {runs[-1]['import_cpu_s']:.2f}, Numba floor {runs[-1]['numba_floor_cpu_s']:.3f}",
                file=sys.stderr,
            )
        results[env_id] = {"median": medians(runs), "runs": runs}
    settings = {"envs": args.envs, "steps": args.steps, "repeats": args.repeats, "job": "examples/quickstart.py main()"}
    document = make_document("startup", "benchmarks.startup", [0], settings, results)
    write_document(args.out, document)
    print(json.dumps({env_id: result["median"] for env_id, result in results.items()}, indent=1))


if __name__ == "__main__":
    main()
