"""Evaluation on Ray actors: the evaluator contract (``evaluator_contract``) and Ray's own errors.

One local Ray of 2 CPUs serves the whole module (pytest-xdist runs a module's tests in one worker). Actors take
half a CPU each so that a test's own evaluator fits beside the shared one.
"""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from evaluator_contract import *  # noqa: F403  (the tests every evaluator must pass, run here on Ray)
from stable_baselines3.common.callbacks import BaseCallback
from test_save_load import assert_same_state

from sb3_cosyne import CoSyNE, RayEvaluator

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install sb3-cosyne[ray]")

HALF_CPU = dict(num_cpus_per_worker=0.5)


@pytest.fixture(scope="module")
def ray_session():
    # The workers unpickle the test envs by value: they cannot import the test modules.
    for module in ("test_evaluator",):
        ray.cloudpickle.register_pickle_by_value(sys.modules[module])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def evaluator(ray_session):
    # Three networks per task: a generation of 8 makes more tasks than workers, arriving in any order.
    with RayEvaluator("CartPole-v1", n_workers=2, members_per_task=3, **HALF_CPU) as shared:
        # Started here, not by whichever test happens to use it first: every test, run alone or not, finds its
        # 2 actors holding 1 of the 2 CPUs.
        CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=0, evaluator=shared).learn(1)
        assert shared.workers == 2
        yield shared


@pytest.fixture(scope="module")
def make_evaluator(ray_session):
    return functools.partial(RayEvaluator, **HALF_CPU)


def test_bad_arguments_raise_clear_errors(evaluator, monkeypatch):
    for kwargs, name in [
        (dict(n_workers=0), "n_workers"),
        (dict(members_per_task=1.5), "members_per_task"),
        (dict(n_envs=0), "n_envs"),
        (dict(num_cpus_per_worker=0), "num_cpus_per_worker"),
    ]:
        with pytest.raises(ValueError, match=name):
            RayEvaluator("CartPole-v1", **kwargs)
    # The module's shared evaluator holds one of the 2 CPUs (no need to wait for CPUs of stopped actors).
    monkeypatch.setattr("sb3_cosyne.evaluation.ray_evaluator._RELEASE_WAIT_S", 0.0)
    with pytest.raises(ValueError, match=r"2 workers of 1 CPU need 2 CPUs, but 1 of the Ray cluster's 2 are free"):
        CoSyNE("MlpPolicy", "CartPole-v1", evaluator=RayEvaluator("CartPole-v1", n_workers=2)).learn(100)
    with pytest.raises(ValueError, match="env must be a gymnasium env id or a function"):
        RayEvaluator(42)
    with RayEvaluator("NoSuchEnv-v0", n_workers=1, **HALF_CPU) as broken:
        with pytest.raises(RuntimeError, match="the Ray workers could not make the env 'NoSuchEnv-v0'"):
            CoSyNE("MlpPolicy", "CartPole-v1", evaluator=broken).learn(100)
        assert broken.workers == 0


def test_a_job_joins_an_existing_cluster_of_two_nodes_with_address_auto(ray_session):
    # A process of its own: this one holds the module's Ray session.
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    job = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("ray_cluster_job.py"))],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert job.returncode == 0, job.stderr[-3000:]
    report = json.loads(job.stdout.strip().splitlines()[-1])
    assert report["joined the cluster"] and report["cluster nodes"] == 2
    # One actor per free CPU of the cluster, one on each node; training as with local evaluation.
    assert report["actors"] == 2 and report["nodes with an actor"] == 2
    assert report["generations"] >= 3
    assert report["same population"] and report["same champion"] and report["same best fitness"]


class KillActor(BaseCallback):
    """Kills actor ``worker`` of ``evaluator`` (letting Ray restart it) at the ``at``-th ``on_step``."""

    def __init__(self, evaluator: RayEvaluator, worker: int, at: int) -> None:
        super().__init__()
        self.evaluator, self.worker, self.at = evaluator, worker, at

    def _on_step(self) -> bool:
        if self.n_calls == self.at:
            ray.kill(self.evaluator.actors[self.worker], no_restart=False)
        return True


def test_an_actor_killed_mid_generation_is_restarted_and_training_is_unchanged(make_evaluator):
    kwargs = dict(pop_size=8, seed=6, fast_path=False)
    with make_evaluator("CartPole-v1", n_workers=2, members_per_task=1) as evaluator:
        model = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs)
        # The 5th step replayed is in the first generation's first episode: the other tasks are out.
        kill = KillActor(evaluator, worker=1, at=5)
        with pytest.warns(UserWarning, match="RayEvaluator: worker 1 died and Ray restarted it") as caught:
            model.learn(3000, callback=kill)
    assert len([warning for warning in caught if "RayEvaluator" in str(warning.message)]) == 1
    reference = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(3000)
    assert_same_state(model, reference)
    assert kill.n_calls == model.num_timesteps
