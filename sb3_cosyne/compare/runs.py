"""
One training run of a comparison: an algorithm with its tuned hyperparameters, built and trained by rl_zoo3's
``ExperimentManager``, evaluated on a fixed schedule, in a folder that says whether it finished.

A run of ``algo`` on ``env_id`` with seed ``s`` lives in ``<output_dir>/<algo>/<env_id>_<s>/``, rl_zoo3's own
layout (its run ids are the seeds here), with the zoo's files (``evaluations.npz``, ``monitor.csv``, the final
model ``<env_id>.zip``, ``best_model.zip``, ``<env_id>/config.yml``, ...), ``clock.npz`` (training clock at
each evaluation) and, once the run has finished, ``run.json``.
"""

import argparse
import contextlib
import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rl_zoo3
import yaml
from rl_zoo3.callbacks import SaveVecNormalizeCallback
from rl_zoo3.exp_manager import ExperimentManager

from sb3_cosyne import CoSyNE
from sb3_cosyne.compare.callbacks import BudgetExhausted, ScheduledEvalCallback, TimeBudgetCallback
from sb3_cosyne.compare.clock import TrainingClock
from sb3_cosyne.hyperparams import DEFAULT_PATH, load_hyperparams, model_kwargs
from sb3_cosyne.zoo import ALGO, register

#: file that marks a finished run and holds its settings and outcome
RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunSettings:
    """
    What every run of a comparison shares; a finished run is reused only if it was made with the same settings.

    :param budget_steps: env steps to train for (None: each algorithm's tuned ``n_timesteps``)
    :param budget_seconds: training seconds after which a run stops (None: no time budget)
    :param clock: the clock of ``budget_seconds`` and ``eval_every_seconds``, ``"cpu"`` or ``"wall"``
    :param eval_every: env steps between evaluations
    :param eval_every_seconds: training seconds between evaluations, on top of the step schedule (None: steps only)
    :param eval_episodes: episodes per evaluation
    :param device: torch device of the models
    """

    budget_steps: int | None
    budget_seconds: float | None
    clock: str
    eval_every: int
    eval_every_seconds: float | None
    eval_episodes: int
    device: str = "cpu"


def hyperparams_path(algo: str) -> Path:
    """
    :param algo: algorithm name
    :return: the yml file of its tuned hyperparameters: the package's ``cosyne.yml`` for CoSyNE, rl_zoo3's
        installed ``hyperparams/<algo>.yml`` otherwise
    """
    if algo == ALGO:
        return DEFAULT_PATH
    return Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml"


def check_algorithm(algo: str, env_id: str) -> None:
    """
    Fail early, with a clear message, on an algorithm rl_zoo3 does not know or one without tuned settings for the env.

    :param algo: algorithm name (rl_zoo3's, or ``cosyne``)
    :param env_id: gymnasium id
    :raises ValueError: naming the problem and the possible choices
    """
    register()
    if algo not in rl_zoo3.ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; known: {', '.join(sorted(rl_zoo3.ALGOS))}")
    if algo == ALGO:
        try:
            load_hyperparams(env_id)
        except KeyError as error:
            raise ValueError(f"no tuned cosyne hyperparameters for {env_id!r}: {error.args[0]}") from error
        return
    path = hyperparams_path(algo)
    entries = yaml.safe_load(path.read_text()) if path.exists() else {}
    if env_id not in entries:
        tuned = ", ".join(sorted(key for key in entries if key not in ("default", "atari")))
        raise ValueError(f"rl_zoo3 has no tuned {algo} hyperparameters for {env_id!r} in {path}; it has: {tuned}")


def warm_up(algo: str, env_id: str) -> None:
    """
    Prepare a process for timed runs of ``algo``: for CoSyNE, a short untimed training loads its compiled Numba
    kernels (compiling them first if the cache is cold), a one-time cost per process that is not learning.

    :param algo: algorithm name
    :param env_id: gymnasium id
    """
    if algo == ALGO:
        policy, kwargs = model_kwargs(load_hyperparams(env_id))
        model = CoSyNE(policy, env_id, seed=0, **kwargs).learn(1)
        model.predict(model.get_env().reset(), deterministic=True)


def run_dir(output_dir: Path, algo: str, env_id: str, seed: int) -> Path:
    """
    :return: the folder of one run (rl_zoo3's ``<log folder>/<algo>/<env>_<run id>``, the run id being the seed)
    """
    return Path(output_dir) / algo / f"{env_id}_{seed}"


def finished_run(folder: Path, settings: RunSettings) -> dict[str, Any] | None:
    """
    The record of a finished run, if the folder holds one.

    :param folder: the run's folder
    :param settings: the settings the run should have been made with
    :return: its record, or None if it did not finish
    :raises ValueError: when it finished with other settings (its results would not be comparable)
    """
    path = folder / RUN_FILE
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    if record["settings"] != dataclasses.asdict(settings):
        raise ValueError(
            f"{folder} was run with other settings ({record['settings']}, now {dataclasses.asdict(settings)}): "
            "choose another output folder or delete that run"
        )
    return record


class ComparisonManager(ExperimentManager):
    """
    rl_zoo3's ``ExperimentManager`` (hyperparameters, envs, normalisation, model, saving) writing to a given folder,
    with the comparison's callbacks instead of its own ``EvalCallback`` (which counts callback calls, not env steps).

    :param folder: the run's folder
    :param settings: the comparison's settings
    :param clock: the run's training clock
    :param kwargs: ``ExperimentManager``'s arguments
    """

    def __init__(self, folder: Path, settings: RunSettings, clock: TrainingClock, **kwargs: Any) -> None:
        super().__init__(eval_freq=-1, **kwargs)
        self.save_path = str(folder)
        self.params_path = str(folder / self.env_name)
        self.settings = settings
        self.clock = clock
        self.eval_callback: ScheduledEvalCallback | None = None

    def create_callbacks(self) -> None:
        super().create_callbacks()
        self.eval_callback = ScheduledEvalCallback(
            self.create_envs(self.n_eval_envs, eval_env=True),
            self.clock,
            log_path=self.save_path,
            eval_every=self.settings.eval_every,
            eval_every_seconds=self.settings.eval_every_seconds,
            clock_name=self.settings.clock,
            n_eval_episodes=self.settings.eval_episodes,
            best_model_save_path=self.save_path,
            callback_on_new_best=SaveVecNormalizeCallback(save_freq=1, save_path=self.params_path),
            deterministic=self.deterministic_eval,
            verbose=0,
        )
        self.callbacks.append(self.eval_callback)
        if self.settings.budget_seconds is not None:
            self.callbacks.append(TimeBudgetCallback(self.clock, self.settings.budget_seconds, self.settings.clock))


def train_run(algo: str, env_id: str, seed: int, settings: RunSettings, output_dir: Path) -> dict[str, Any]:
    """
    Train and evaluate one run from scratch (a leftover folder of an interrupted run is removed first).

    :param algo: algorithm name
    :param env_id: gymnasium id
    :param seed: seed of the model and the envs
    :param settings: the comparison's settings
    :param output_dir: the comparison's folder
    :return: the run's record, also written to its ``run.json``
    :raises KeyboardInterrupt: when training was interrupted (the run is then left unfinished)
    """
    check_algorithm(algo, env_id)
    folder = run_dir(output_dir, algo, env_id, seed)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    clock = TrainingClock()
    args = argparse.Namespace(algo=algo, env=env_id, seed=seed, **dataclasses.asdict(settings))
    # The zoo prints its settings and paths; they go to the run's log rather than between the progress lines.
    with open(folder / "zoo.log", "w") as log, contextlib.redirect_stdout(log):
        manager = ComparisonManager(
            folder,
            settings,
            clock,
            args=args,
            algo=algo,
            env_id=env_id,
            log_folder=str(output_dir),
            n_timesteps=settings.budget_steps or 0,
            n_eval_episodes=settings.eval_episodes,
            seed=seed,
            log_interval=-1,
            verbose=0,
            device=settings.device,
            config=str(hyperparams_path(algo)),
        )
        model, _ = manager.setup_experiment()
        stop = "steps"
        try:
            manager.learn(model)
        except BudgetExhausted:
            stop = "time"
        # The zoo's learn swallows KeyboardInterrupt (to save the model); this run must not count as finished.
        if stop == "steps" and model.num_timesteps < manager.n_timesteps:
            raise KeyboardInterrupt
        manager.eval_callback.evaluate_final()
        manager.save_trained_model(model)
    record = {
        "algo": algo,
        "env": env_id,
        "seed": seed,
        "settings": dataclasses.asdict(settings),
        "stop": stop,
        "timesteps": int(model.num_timesteps),
        "cpu_s": clock.seconds("cpu"),
        "wall_s": clock.seconds("wall"),
    }
    (folder / RUN_FILE).write_text(json.dumps(record, indent=1))
    return record
