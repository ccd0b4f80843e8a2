"""``evaluator="auto"``: worker processes on every CPU where that pays, with the same result as one process."""

import gymnasium as gym
import pytest
from stable_baselines3.common.callbacks import BaseCallback
from test_save_load import assert_same_state

from sb3_cosyne import CoSyNE, SubprocEvaluator
from sb3_cosyne.evaluation import subproc_evaluator


class WorkersSeen(BaseCallback):
    """The numbers of running workers the model's evaluator had at its steps."""

    def _on_training_start(self) -> None:
        self.seen: set[int] = set()

    def _on_step(self) -> bool:
        self.seen.add(self.model.evaluator.workers)
        return True


def test_auto_uses_every_cpu_on_a_python_stepped_env_and_trains_as_one_process(monkeypatch):
    monkeypatch.setattr(subproc_evaluator, "available_cpus", lambda: 2)
    monkeypatch.setattr("sb3_cosyne.algorithm.cosyne.available_cpus", lambda: 2)
    kwargs = dict(pop_size=8, seed=2, champion_episodes=2, n_eval_episodes=2)
    model = CoSyNE("MlpPolicy", "Pendulum-v1", fast_path=False, evaluator="auto", **kwargs)
    assert isinstance(model.evaluator, SubprocEvaluator) and model.evaluator.n_workers == 2
    workers = WorkersSeen()
    model.learn(4000, callback=workers)
    assert workers.seen == {2}
    assert_same_state(model, CoSyNE("MlpPolicy", "Pendulum-v1", fast_path=False, **kwargs).learn(4000))


def test_auto_stays_in_this_process_where_workers_do_not_pay(monkeypatch):
    monkeypatch.setattr("sb3_cosyne.algorithm.cosyne.available_cpus", lambda: 2)
    # a compiled rollout
    assert CoSyNE("MlpPolicy", "Pendulum-v1", evaluator="auto").evaluator is None
    monkeypatch.setattr("sb3_cosyne.algorithm.cosyne.available_cpus", lambda: 1)
    assert CoSyNE("MlpPolicy", "Pendulum-v1", fast_path=False, evaluator="auto").evaluator is None


def test_auto_after_load_uses_the_saved_env_id(tmp_path, monkeypatch):
    monkeypatch.setattr("sb3_cosyne.algorithm.cosyne.available_cpus", lambda: 2)
    CoSyNE("MlpPolicy", "Pendulum-v1", fast_path=False, pop_size=8).save(tmp_path / "model")
    loaded = CoSyNE.load(tmp_path / "model", env=gym.make("Pendulum-v1"), evaluator="auto")
    loaded._resolve_evaluator()
    assert isinstance(loaded.evaluator, SubprocEvaluator)
    assert loaded.evaluator.env == "Pendulum-v1"


def test_auto_needs_an_env_id_and_other_strings_are_refused():
    with pytest.raises(ValueError, match='evaluator="auto" needs the env as a gymnasium id'):
        CoSyNE("MlpPolicy", gym.make("Pendulum-v1"), fast_path=False, evaluator="auto")
    with pytest.raises(ValueError, match='evaluator must be None, "auto" or a BaseEvaluator'):
        CoSyNE("MlpPolicy", "Pendulum-v1", evaluator="subproc")


def test_workers_the_model_made_stop_at_the_end_of_learn_and_come_back(monkeypatch):
    monkeypatch.setattr("sb3_cosyne.algorithm.cosyne.available_cpus", lambda: 2)
    model = CoSyNE("MlpPolicy", "Pendulum-v1", fast_path=False, pop_size=8, evaluator="auto")
    model.learn(2000)
    assert model.evaluator.workers == 0
    model.learn(2000, reset_num_timesteps=False)
    assert model.evaluator.workers == 0 and model.num_timesteps >= 4000
