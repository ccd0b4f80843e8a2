"""Callbacks see what SB3's on-policy loop gives them: ``callback.locals`` at every step, and the success rate."""

import csv

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback, StopTrainingOnMaxEpisodes
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from sb3_cosyne import CoSyNE, SubprocEvaluator


class LocalsRecorder(BaseCallback):
    """Keeps, at every step, the number of lanes and the rewards, dones and infos SB3 callbacks read."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[dict] = []

    def _on_step(self) -> bool:
        self.steps.append({key: self.locals[key] for key in ("actions", "new_obs", "rewards", "dones", "infos")})
        return True


def test_on_the_vecenv_path_the_locals_are_arrays_over_the_lanes_and_add_up_to_the_episodes():
    env = make_vec_env("CartPole-v1", n_envs=3)
    recorder = LocalsRecorder()
    model = CoSyNE("MlpPolicy", env, pop_size=8, seed=0, fast_path=False).learn(1500, callback=recorder)
    running = np.zeros(3)
    finished = []
    for step in recorder.steps:
        assert step["actions"].shape == (3,) and step["new_obs"].shape == (3, 4) and step["new_obs"].dtype == np.float32
        assert step["rewards"].shape == step["dones"].shape == (3,) and len(step["infos"]) == 3
        running += step["rewards"]
        for lane in np.flatnonzero(step["dones"]):
            # Monitor's episode info at the episode's last step, as SB3 callbacks read it
            assert step["infos"][lane]["episode"]["r"] == pytest.approx(running[lane])
            finished.append(running[lane])
            running[lane] = 0.0
    assert len(recorder.steps) < model.num_timesteps  # batched steps: several lanes at a time
    assert sum(step["rewards"].sum() for step in recorder.steps) == model.num_timesteps  # CartPole: 1 per step
    assert sorted(finished) == sorted(info["r"] for info in model.ep_info_buffer)


def test_replayed_and_live_steps_give_the_same_dones_and_episode_infos():
    seen = {}
    for fast_path in (True, False):
        recorder = LocalsRecorder()
        model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=4, fast_path=fast_path).learn(2000, callback=recorder)
        dones = [bool(step["dones"][0]) for step in recorder.steps]
        returns = [step["infos"][0]["episode"]["r"] for step in recorder.steps if step["dones"][0]]
        assert len(dones) == model.num_timesteps and sum(dones) == model.num_evaluations
        # a replayed step tells only whether the episode ended and, at its end, Monitor's episode info
        assert (recorder.steps[0]["new_obs"] is None) == fast_path
        assert np.isnan(recorder.steps[0]["rewards"][0]) == fast_path
        seen[fast_path] = dones, returns
    assert seen[True] == seen[False]


@pytest.mark.parametrize("setting", ["vecenv", "fast_path", "subproc"])
def test_stop_training_on_max_episodes_stops_after_that_many_episodes(setting):
    kwargs = dict(pop_size=8, seed=2, fast_path=setting == "fast_path")
    if setting == "subproc":
        kwargs["evaluator"] = SubprocEvaluator("CartPole-v1", n_workers=2)
    counter = LocalsRecorder()
    model = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs)
    try:
        model.learn(100_000, callback=[StopTrainingOnMaxEpisodes(max_episodes=11), counter])
    finally:
        if model.evaluator is not None:
            model.evaluator.close()
    assert sum(int(step["dones"].sum()) for step in counter.steps) == 11
    # It stopped at the last step of the 11th episode: the first generation's 8, then the 3 of its best network's
    # re-test, before that generation committed.
    assert counter.steps[-1]["dones"].any() and model.generation == 0
    assert model.num_timesteps == len(counter.steps)


class CoinEnv(gym.Env):
    """Five steps; the episode is a success when the last action is 1."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([self.np_random.uniform(-1, 1)], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t == 5
        info = {"is_success": bool(action == 1)} if done else {}
        return np.zeros(1, dtype=np.float32), float(action), done, False, info


def test_the_success_rate_is_logged_from_is_success_infos(tmp_path):
    model = CoSyNE("MlpPolicy", make_vec_env(CoinEnv, n_envs=2), pop_size=8, seed=0, champion_episodes=2)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(400)
    with open(tmp_path / "progress.csv") as file:
        rows = list(csv.DictReader(file))
    rates = [float(row["rollout/success_rate"]) for row in rows]
    assert rates and all(0.0 <= rate <= 1.0 for rate in rates)
    successes = list(model.ep_success_buffer)
    assert len(successes) == len(model.ep_info_buffer) == model.num_evaluations
    assert rates[-1] == pytest.approx(np.mean(successes))
    assert 0 < np.mean(successes) < 1  # some networks end on action 1, some do not


def test_successes_come_back_from_workers_as_from_local_lanes():
    local = CoSyNE("MlpPolicy", make_vec_env(CoinEnv), pop_size=8, seed=1, champion_episodes=2).learn(300)
    with SubprocEvaluator(CoinEnv, n_workers=2, members_per_task=3, start_method="fork") as evaluator:
        remote = CoSyNE("MlpPolicy", CoinEnv(), pop_size=8, seed=1, champion_episodes=2, evaluator=evaluator).learn(300)
    assert len(remote.ep_success_buffer) == remote.num_evaluations > 0
    assert list(remote.ep_success_buffer) == list(local.ep_success_buffer)
