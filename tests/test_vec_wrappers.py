"""VecEnv wrappers (``VecNormalize``, ``VecFrameStack``, ``VecMonitor``) are stepped through, as PPO steps them."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback, StopTrainingOnMaxEpisodes
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecMonitor, VecNormalize

from sb3_cosyne import CoSyNE, SubprocEvaluator
from sb3_cosyne.evaluation.lanes import evaluate_networks

SETTINGS = dict(pop_size=8, champion_episodes=2, seed=5)


def cartpole(n_envs: int = 3):
    return make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)


def bare_cartpole(n_envs: int = 3):
    """CartPole lanes without Monitor (VecMonitor warns about one below it)."""
    return DummyVecEnv([lambda: gym.make("CartPole-v1")] * n_envs)


def trained(env, steps: int = 3000, **kwargs) -> CoSyNE:
    return CoSyNE("MlpPolicy", env, **{**SETTINGS, **kwargs}).learn(steps)


def assert_same_run(a: CoSyNE, b: CoSyNE) -> None:
    np.testing.assert_array_equal(a.strategy.population, b.strategy.population)
    np.testing.assert_array_equal(a.champion_params(), b.champion_params())
    assert a.num_timesteps == b.num_timesteps and a.best_fitness == b.best_fitness


def test_fitness_counts_the_env_rewards_not_vecnormalize_s():
    scaled = trained(VecNormalize(cartpole(), norm_obs=False, norm_reward=True))
    plain = trained(VecNormalize(cartpole(), norm_obs=False, norm_reward=False))
    assert_same_run(scaled, plain)
    # CartPole pays 1 per step: the returns CoSyNE records are the episodes' lengths.
    assert all(info["r"] == info["l"] for info in scaled.ep_info_buffer)
    assert scaled.best_fitness > 50


def test_networks_see_vecnormalize_s_observations_and_the_statistics_update():
    env = VecNormalize(cartpole(), norm_reward=False)
    model = trained(env)
    assert env.obs_rms.count > model.num_timesteps / 2
    env.training = False
    mean, _ = evaluate_policy(model, env, n_eval_episodes=5)
    assert mean == pytest.approx(model.best_fitness, rel=0.5)


@pytest.mark.parametrize("wrap", [lambda v: VecNormalize(v), lambda v: VecFrameStack(v, 3), VecMonitor])
def test_the_same_seed_gives_the_same_run_through_a_wrapper(wrap):
    first, second = trained(wrap(bare_cartpole())), trained(wrap(bare_cartpole()))
    assert_same_run(first, second)
    assert first.generation >= 5


def test_frame_stacked_observations_feed_a_network_of_their_size():
    env = VecFrameStack(cartpole(2), 4)
    model = trained(env, 5000)
    assert model.observation_space.shape == (16,)
    assert model.policy.network.obs_dim == 16
    mean, _ = evaluate_policy(model, env, n_eval_episodes=4)
    assert mean > 20


class LocalsRecorder(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.infos: list[list[dict]] = []
        self.dones: list[np.ndarray] = []

    def _on_step(self) -> bool:
        self.infos.append(self.locals["infos"])
        self.dones.append(self.locals["dones"])
        return True


def test_callbacks_see_the_wrapper_s_infos_and_stop_after_n_episodes():
    recorder = LocalsRecorder()
    model = CoSyNE("MlpPolicy", VecMonitor(bare_cartpole(2)), **SETTINGS)
    model.learn(100_000, callback=[StopTrainingOnMaxEpisodes(max_episodes=3), recorder])
    # SB3's callback counts max_episodes per lane, as with PPO.
    assert sum(int(dones.sum()) for dones in recorder.dones) == 6
    # VecMonitor's episode records, at each episode's last step.
    ends = [
        info
        for infos, dones in zip(recorder.infos, recorder.dones, strict=True)
        for info, done in zip(infos, dones, strict=True)
        if done
    ]
    assert len(ends) == 6 and all("episode" in info and "terminal_observation" in info for info in ends)
    assert model.generation == 0


def test_each_evaluation_starts_from_a_seeded_reset_of_all_lanes():
    env = VecMonitor(bare_cartpole(2))
    model = CoSyNE("MlpPolicy", env, seed=0)
    params = np.random.default_rng(1).uniform(-1, 1, size=(4, model.policy.num_params))
    seeds = np.arange(8).reshape(4, 2)
    first = evaluate_networks(env, model.policy.network, params, seeds)
    again = evaluate_networks(env, model.policy.network, params, seeds)
    np.testing.assert_array_equal(first.returns, again.returns)
    other = evaluate_networks(env, model.policy.network, params, seeds + 100)
    assert not np.array_equal(first.returns, other.returns)


class Clock(gym.Env):
    """Pays ``t`` at its ``t``-th step and ends after 80: an episode's return says where it started."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(2, action - 0.5, dtype=np.float32), float(self.t), self.t == 80, False, {}


def test_episodes_cut_at_the_cap_wait_for_a_reset_of_all_lanes():
    env = VecMonitor(DummyVecEnv([Clock, Clock, Clock]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = trained(env, 2000, max_episode_steps=50)
    assert sum("max_episode_steps=50" in str(w.message) for w in caught) == 1
    # Every episode began at a reset: none took over a lane whose VecEnv episode was cut.
    assert {(info["r"], info["l"]) for info in model.ep_info_buffer} == {(50 * 51 / 2, 50)}
    assert model.num_timesteps == 50 * model.num_evaluations


def test_an_evaluator_with_a_wrapped_env_is_refused_with_what_to_do():
    with SubprocEvaluator("CartPole-v1", n_workers=1) as evaluator:
        with pytest.raises(ValueError, match="without the model's VecEnv wrapper VecNormalize.*normalize_obs=True"):
            CoSyNE("MlpPolicy", VecNormalize(cartpole()), evaluator=evaluator)
        model = CoSyNE("MlpPolicy", VecNormalize(cartpole()))
        model.evaluator = evaluator
        with pytest.raises(ValueError, match="without the model's VecEnv wrapper"):
            model.learn(100)


def test_a_wrapped_env_s_invalid_values_end_the_episode_and_the_lane_waits():
    class Breaks(gym.Wrapper):
        """Returns a NaN observation at step 7 of every episode, then goes on."""

        def reset(self, **kwargs):
            self.t = 0
            return self.env.reset(**kwargs)

        def step(self, action):
            self.t += 1
            obs, reward, terminated, truncated, info = self.env.step(action)
            return (obs * np.nan if self.t == 7 else obs), reward, terminated, truncated, info

    env = VecMonitor(DummyVecEnv([lambda: Breaks(gym.make("CartPole-v1"))] * 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = trained(env, 500)
    assert any("non-finite observation" in str(w.message) for w in caught)
    assert model.generation >= 1
