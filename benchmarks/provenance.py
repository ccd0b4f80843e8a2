"""
The published form of a benchmark's results: a JSON document with the numbers and where they come from.

A benchmark whose numbers the docs publish writes one such document to ``docs/results/<name>.json`` (committed);
``python -m benchmarks.render`` turns it into the tables of the docs. The document holds the command line, the
date, the machine (cores, CPU model, library versions), the seeds, the settings and the raw per-seed numbers.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
#: where the committed results behind the docs' tables live
RESULTS_DIR = REPO_ROOT / "docs" / "results"
#: distributions whose versions go into every document (read from their metadata: nothing is imported)
VERSIONED = ("numpy", "numba", "torch", "gymnasium", "stable_baselines3", "sb3_contrib", "rl_zoo3", "cma")


def cpu_model() -> str:
    """
    :return: the CPU's model name (Linux's ``/proc/cpuinfo``), else what ``platform`` knows
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    """
    :return: the installed version of each of ``VERSIONED`` (``None``: not installed)
    """
    versions: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """
    :return: the checked-out commit, with ``+dirty`` when the work tree has changes outside ``docs/results`` (``None``
        outside git). The results documents are left out: a benchmark that writes its document as it goes would
        otherwise call its own tree dirty from its second write on.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":(exclude)docs/results"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def machine_facts() -> dict[str, Any]:
    """
    :return: cores, CPU model, OS, Python and library versions of this machine
    """
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        **package_versions(),
    }


def command_line(module: str, argv: list[str] | None = None) -> str:
    """
    :param module: the benchmark's module, as run with ``python -m``
    :param argv: its arguments (default: this process's)
    :return: the command that reruns it
    """
    arguments = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", "-m", module, *arguments])


def make_document(
    benchmark: str, module: str, seeds: list[int], settings: dict[str, Any], results: Any, argv: list[str] | None = None
) -> dict[str, Any]:
    """
    :param benchmark: which renderer of ``benchmarks.render`` reads the results
    :param module: the benchmark's module (for the command line)
    :param seeds: the seeds of the runs
    :param settings: what the runs share (budgets, caps, ...)
    :param results: the raw per-seed numbers, in the benchmark's own form
    :param argv: the benchmark's arguments (default: this process's)
    :return: the document
    """
    return {
        "benchmark": benchmark,
        "command": command_line(module, argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_commit(),
        "machine": machine_facts(),
        "seeds": seeds,
        "settings": settings,
        "results": results,
    }


def write_document(path: Path, document: dict[str, Any]) -> None:
    """
    Write a document atomically, so that an interrupted benchmark leaves a valid file behind.

    :param path: the JSON file (its folder is created)
    :param document: see :func:`make_document`
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n")
    tmp.replace(path)
