"""
rl_zoo3's command line with CoSyNE registered as the algorithm ``cosyne`` (needs ``pip install "sb3-cosyne[zoo]"``).

Usage::

    python -m sb3_cosyne.zoo train --env CartPole-v1 [any rl_zoo3 train option]
    python -m sb3_cosyne.zoo enjoy --env CartPole-v1 --no-render
    python -m sb3_cosyne.zoo record_video --env CartPole-v1 -n 500

``--algo`` defaults to ``cosyne``; for it, the hyperparameters come from the package's ``cosyne.yml`` unless
``-conf`` names another file, and ``enjoy``/``record_video`` read agents from ``logs/`` (where ``train``
writes them) unless ``-f`` says otherwise. Every other option is rl_zoo3's own, unchanged.
"""

import argparse
import importlib.util
import runpy
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml

from sb3_cosyne.hyperparams import DEFAULT_PATH, load_hyperparams

COMMANDS = ("train", "enjoy", "record_video")
ALGO = "cosyne"
#: Where rl_zoo3's ``train`` writes agents by default, and so where ``enjoy`` looks for CoSyNE's.
LOG_FOLDER = "logs"


def register() -> None:
    """
    Make CoSyNE known to rl_zoo3 as ``cosyne``: its algorithm table and its Optuna sampler and converter.

    Afterwards rl_zoo3's own entry points (``rl_zoo3.train.train()``, ``rl_zoo3.enjoy.enjoy()``, the
    ``ExperimentManager``) accept ``--algo cosyne``; pass ``-conf`` with :data:`sb3_cosyne.hyperparams.DEFAULT_PATH`
    (or use :func:`main`, which does) for the tuned hyperparameters.

    :raises ImportError: when rl_zoo3 is not installed, with the extra that installs it
    """
    try:
        import rl_zoo3
        from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
    except ImportError as error:
        raise ImportError(f'the rl_zoo3 bridge needs rl_zoo3: pip install "sb3-cosyne[zoo]" ({error})') from error

    from sb3_cosyne import CoSyNE
    from sb3_cosyne.hyperparams.sampling import convert_cosyne_params, sample_cosyne_params

    # rl_zoo3's modules import this same dict object, so one assignment reaches all of them.
    rl_zoo3.ALGOS[ALGO] = CoSyNE
    HYPERPARAMS_SAMPLER[ALGO] = sample_cosyne_params
    HYPERPARAMS_CONVERTER[ALGO] = convert_cosyne_params


def _peek(options: Sequence[str]) -> argparse.Namespace:
    """The few rl_zoo3 options the bridge looks at; everything else is left to rl_zoo3's parser."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo")
    parser.add_argument("--env", default="CartPole-v1")  # rl_zoo3's default
    parser.add_argument("-conf", "--conf-file", dest="conf")
    parser.add_argument("-f", "--folder", "--log-folder", dest="folder")
    return parser.parse_known_args(options)[0]


def with_defaults(command: str, options: Sequence[str]) -> list[str]:
    """
    rl_zoo3 options with the bridge's defaults added where the user gave none.

    :param command: ``train``, ``enjoy`` or ``record_video``
    :param options: the options after the command
    :return: the options to hand to rl_zoo3
    """
    peek = _peek(options)
    options = list(options)
    if peek.algo is None:
        options += ["--algo", ALGO]
    elif peek.algo != ALGO:
        return options
    if command == "train" and peek.conf is None:
        options += ["-conf", str(DEFAULT_PATH)]
    if command != "train" and peek.folder is None:
        options += ["-f", LOG_FOLDER]
    return options


def check_entry(options: Sequence[str]) -> None:
    """
    Refuse up front a CoSyNE run whose yml has no entry for the env (rl_zoo3 would fail later, or fall back
    to a ``default`` entry when the file has one), or whose entry has a key neither rl_zoo3 nor CoSyNE knows.

    :param options: ``train`` options, with the bridge's defaults (see :func:`with_defaults`)
    :raises SystemExit: naming the env, the file and the entries it has
    """
    peek = _peek(options)
    if peek.algo != ALGO or not str(peek.conf).endswith((".yml", ".yaml")):
        return  # a Python config module or another algorithm: rl_zoo3 checks it itself
    path = Path(peek.conf)
    if not path.is_file():
        raise SystemExit(f"sb3_cosyne.zoo: the hyperparameter file {path} does not exist")
    entries = yaml.safe_load(path.read_text()) or {}
    if peek.env not in entries and "default" in entries:
        return
    try:
        load_hyperparams(peek.env, path)
    except KeyError as error:
        raise SystemExit(
            f"sb3_cosyne.zoo: {error.args[0]}. Add an entry for it to a copy of the file and pass that with -conf."
        ) from None
    except ValueError as error:
        raise SystemExit(f"sb3_cosyne.zoo: {error}") from None


def check_video_dependencies() -> None:
    """
    :raises SystemExit: when moviepy, which SB3's ``VecVideoRecorder`` writes videos with, is not installed
    """
    if importlib.util.find_spec("moviepy") is None:
        raise SystemExit('sb3_cosyne.zoo: record_video needs moviepy: pip install "sb3-cosyne[zoo]" (or pip install moviepy)')


@contextmanager
def _argv(argv: list[str]):
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run an rl_zoo3 script with CoSyNE registered (see the module docstring).

    :param argv: the command and its options; ``sys.argv[1:]`` by default
    :raises SystemExit: for an unknown command, an env without hyperparameters, or a missing video dependency
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    if not argv or argv[0] not in COMMANDS:
        raise SystemExit(f"usage: python -m sb3_cosyne.zoo {{{','.join(COMMANDS)}}} [rl_zoo3 options]")
    command, options = argv[0], with_defaults(argv[0], argv[1:])
    if command == "train":
        check_entry(options)
    if command == "record_video":
        check_video_dependencies()
    register()
    with _argv([f"sb3_cosyne.zoo {command}", *options]):
        if command == "train":
            from rl_zoo3.train import train

            train()
        elif command == "enjoy":
            from rl_zoo3.enjoy import enjoy

            enjoy()
        else:
            # rl_zoo3's video script is written as a __main__ block, not a function.
            runpy.run_module("rl_zoo3.record_video", run_name="__main__")


if __name__ == "__main__":
    main()
