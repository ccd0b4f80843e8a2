"""Saving, loading, determinism and exact resume."""

import gymnasium as gym
import numpy as np
import pytest
from conftest import ACTION_SPACES, CARTPOLE_MIRROR, OBSERVATION_SPACES, RaiseAt, SpaceEnv
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback

from sb3_cosyne import CoSyNE, RecurrentPolicy


def space_env(act_key: str) -> SpaceEnv:
    return SpaceEnv(OBSERVATION_SPACES["box"], ACTION_SPACES[act_key])


def assert_same_state(a: CoSyNE, b: CoSyNE) -> None:
    np.testing.assert_array_equal(a.strategy.population, b.strategy.population)
    np.testing.assert_array_equal(a.strategy.fitness, b.strategy.fitness)
    np.testing.assert_array_equal(a.champion_params(), b.champion_params())
    assert a.strategy.rng.bit_generator.state == b.strategy.rng.bit_generator.state
    assert (a.generation, a.num_timesteps, a.num_evaluations, a.champion) == (
        b.generation,
        b.num_timesteps,
        b.num_evaluations,
        b.champion,
    )


@pytest.mark.parametrize("act_key", sorted(ACTION_SPACES))
def test_save_load_gives_identical_predictions(tmp_path, act_key):
    env = space_env(act_key)
    model = CoSyNE("MlpPolicy", env, pop_size=8, seed=0, champion_episodes=1).learn(8 * 20 * 3)
    model.save(tmp_path / "model")
    loaded = CoSyNE.load(tmp_path / "model", env=env)
    observations = np.stack([env.observation_space.sample() for _ in range(20)])
    np.testing.assert_array_equal(model.predict(observations)[0], loaded.predict(observations)[0])
    assert_same_state(model, loaded)
    assert loaded.policy.net_arch == model.policy.net_arch


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_same_seed_same_result_bit_for_bit(env_id):
    runs = [CoSyNE("MlpPolicy", env_id, pop_size=8, seed=7).learn(3000) for _ in range(2)]
    assert_same_state(*runs)
    other = CoSyNE("MlpPolicy", env_id, pop_size=8, seed=8).learn(3000)
    assert not np.array_equal(other.strategy.population, runs[0].strategy.population)


@pytest.mark.parametrize("permutation", ["all", "proportional", "none"])
@pytest.mark.parametrize("act_key", sorted(ACTION_SPACES))
def test_resume_from_save_is_exact(tmp_path, permutation, act_key):
    env = space_env(act_key)
    kwargs = dict(pop_size=8, seed=3, permutation=permutation, champion_episodes=2, normalize_obs=True)
    split = CoSyNE("MlpPolicy", env, **kwargs).learn(1500)
    split.save(tmp_path / "half")
    resumed = CoSyNE.load(tmp_path / "half", env=env).learn(1500, reset_num_timesteps=False)
    whole = CoSyNE("MlpPolicy", env, **kwargs).learn(resumed.num_timesteps)
    assert_same_state(resumed, whole)
    np.testing.assert_array_equal(resumed.obs_rms.mean, whole.obs_rms.mean)
    observations = np.stack([env.observation_space.sample() for _ in range(10)])
    np.testing.assert_array_equal(resumed.predict(observations)[0], whole.predict(observations)[0])


def test_load_takes_an_env_id_as_the_constructor_does(tmp_path):
    kwargs = dict(pop_size=8, seed=5, fast_path=False)
    CoSyNE("MlpPolicy", "Pendulum-v1", **kwargs).learn(1000).save(tmp_path / "half")
    resumed = CoSyNE.load(tmp_path / "half", env="Pendulum-v1").learn(1000, reset_num_timesteps=False)
    whole = CoSyNE("MlpPolicy", "Pendulum-v1", **kwargs).learn(resumed.num_timesteps)
    assert_same_state(resumed, whole)
    assert resumed.env_id == "Pendulum-v1" and resumed.env.envs[0].unwrapped.render_mode is None
    with pytest.raises(ValueError, match="Observation spaces do not match"):
        CoSyNE.load(tmp_path / "half", env="CartPole-v1")


def test_load_with_mismatched_env_is_refused(tmp_path):
    CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=0).save(tmp_path / "cartpole")
    with pytest.raises(ValueError, match="Observation spaces do not match"):
        CoSyNE.load(tmp_path / "cartpole", env=gym.make("Pendulum-v1"))


def test_load_gives_the_saved_population_new_settings_as_sb3_models_take_a_new_learning_rate(tmp_path):
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=0).learn(3000)
    model.save(tmp_path / "model")
    settings = dict(mutation_prob=0.0, permutation="none", stagnation=50, mutation_target="non_parents")
    loaded = CoSyNE.load(tmp_path / "model", env=gym.make("CartPole-v1"), **settings)
    np.testing.assert_array_equal(loaded.strategy.population, model.strategy.population)
    assert {name: getattr(loaded.strategy, name) for name in settings} == settings
    # Without mutation or permutation, the next generation only recombines: every weight comes from its own
    # subpopulation. With the saved settings (mutation_prob=0.3, permutation="all") new values appear.
    saved = model.strategy.population.copy()

    def only_recombined(population: np.ndarray) -> bool:
        return all(np.isin(row, old).all() for row, old in zip(population, saved, strict=True))

    loaded.learn(1, reset_num_timesteps=False)
    model.learn(1, reset_num_timesteps=False)
    assert only_recombined(loaded.strategy.population) and not only_recombined(model.strategy.population)
    # The episodes' and the champion's settings apply from the next generation.
    episodes = CoSyNE.load(tmp_path / "model", env=gym.make("CartPole-v1"), n_eval_episodes=2, champion_episodes=0)
    before = episodes.num_evaluations
    episodes.learn(1, reset_num_timesteps=False)
    assert episodes.num_evaluations - before == 2 * 8  # no re-tests
    with pytest.raises(ValueError, match="mutation_scale must be a finite number >= 0"):
        CoSyNE.load(tmp_path / "model", mutation_scale=-1.0)
    with pytest.raises(ValueError, match="holdout_episodes needs champion_episodes > 0"):
        CoSyNE.load(tmp_path / "model", holdout_episodes=10, champion_episodes=0)
    with pytest.raises(ValueError, match="pop_size=16 differs from the saved population's 8 networks"):
        CoSyNE.load(tmp_path / "model", pop_size=16)
    with pytest.raises(ValueError, match=r"no env to learn from .* CoSyNE.load\(path, env=env\)"):
        CoSyNE.load(tmp_path / "model").learn(1)


def test_loading_another_algorithms_zip_is_refused(tmp_path):
    PPO("MlpPolicy", "CartPole-v1", n_steps=64).save(tmp_path / "ppo")
    with pytest.raises(ValueError, match="saved by another algorithm"):
        CoSyNE.load(tmp_path / "ppo")


# Exact resume beyond the VecEnv path above: the compiled fast path (whose callbacks replay each episode's steps),
# a recurrent policy, non-parent mutation, burst mutations after stagnation, a mirror-tied network, and the VecEnv path
# as a baseline.
# Pole episodes are cut at 200 steps: a balancing network would make generations of 100,000-step episodes, and the
# stagnation run reaches its best return early, so that bursts follow within a few generations.
RESUME_RUNS = {
    "fast_path": ("MlpPolicy", "CartPole-v1", {}),
    "fast_path_pole": ("MlpPolicy", "sb3_cosyne/SinglePole-v0", {}),
    "recurrent": ("RecurrentPolicy", "sb3_cosyne/SinglePoleNoVel-v0", dict(policy_kwargs=dict(net_arch=[2], with_bias=False))),
    "non_parents": ("MlpPolicy", "CartPole-v1", dict(mutation_target="non_parents")),
    "stagnation": ("MlpPolicy", "sb3_cosyne/SinglePole-v0", dict(stagnation=2)),
    "vec_env_path": ("MlpPolicy", "CartPole-v1", dict(fast_path=False)),
    "holdout": ("MlpPolicy", "CartPole-v1", dict(holdout_episodes=4)),
    "holdout_race": ("MlpPolicy", "CartPole-v1", dict(holdout_episodes=6, holdout_blocks=3, max_champion_episodes=3)),
    "episode_cap": ("MlpPolicy", "CartPole-v1", dict(episode_cap_factor=1.2)),
    "holdout_refresh": ("MlpPolicy", "CartPole-v1", dict(holdout_episodes=4, holdout_refresh=1)),
    "holdout_margin": ("MlpPolicy", "Acrobot-v1", dict(holdout_episodes=4, holdout_refresh=2, holdout_margin=1.0)),
    "mirror": ("MlpPolicy", "CartPole-v1", dict(policy_kwargs=dict(mirror=CARTPOLE_MIRROR))),
}
RESUME_STEPS = 2000


def resume_env(run: str) -> gym.Env:
    return gym.make(RESUME_RUNS[run][1], max_episode_steps=200 if "sb3_cosyne/" in RESUME_RUNS[run][1] else 500)


def resume_model(run: str) -> CoSyNE:
    policy, _, extra = RESUME_RUNS[run]
    return CoSyNE(policy, resume_env(run), pop_size=8, seed=3, champion_episodes=1, **extra)


def assert_same_run(a: CoSyNE, b: CoSyNE) -> None:
    """``assert_same_state``, the strategy's stagnation count and best network, and the policy's class."""
    assert_same_state(a, b)
    assert (a.strategy.stale_generations, a.strategy.best_fitness) == (b.strategy.stale_generations, b.strategy.best_fitness)
    assert a._episode_cap == b._episode_cap
    assert (a._holdout_set, a._holdout_set_checks) == (b._holdout_set, b._holdout_set_checks)
    np.testing.assert_array_equal(a.strategy.best_params, b.strategy.best_params)
    assert type(a.policy) is type(b.policy)


def assert_ran_as_configured(model: CoSyNE, run: str) -> None:
    assert (model._compiled_rollout is not None) == RESUME_RUNS[run][2].get("fast_path", True)
    assert isinstance(model.policy, RecurrentPolicy) == (RESUME_RUNS[run][0] == "RecurrentPolicy")


class RecordBursts(BaseCallback):
    """The generations that ended in a burst mutation: the stagnation count back to 0 without a better network."""

    def _on_training_start(self) -> None:
        self.bursts: list[int] = []
        self.best = self.model.strategy.best_fitness

    def _on_rollout_end(self) -> None:
        strategy = self.model.strategy
        if strategy.stale_generations == 0 and strategy.best_fitness == self.best:
            self.bursts.append(strategy.generation)
        self.best = strategy.best_fitness

    def _on_step(self) -> bool:
        return True


@pytest.mark.parametrize("run", list(RESUME_RUNS))
def test_resume_from_save_is_exact_on_every_kind_of_run(tmp_path, run):
    split = resume_model(run).learn(RESUME_STEPS)
    split.save(tmp_path / "split")
    resumed = CoSyNE.load(tmp_path / "split", env=resume_env(run)).learn(RESUME_STEPS, reset_num_timesteps=False)
    bursts = RecordBursts()
    whole = resume_model(run).learn(resumed.num_timesteps, callback=bursts)
    assert resumed.generation > split.generation > 0
    assert_ran_as_configured(resumed, run)
    assert_same_run(resumed, whole)
    if run == "stagnation":
        # The save falls within a stagnation count, and bursts happen on both sides of it.
        assert split.strategy.stale_generations == 1
        assert min(bursts.bursts) <= split.generation < max(bursts.bursts)
    else:
        assert bursts.bursts == []


def checkpoint_step(path) -> int:
    return int(path.stem.split("_")[1])


@pytest.mark.parametrize("run", list(RESUME_RUNS))
def test_mid_generation_checkpoints_resume_exactly_on_every_kind_of_run(tmp_path, run):
    save_freq = 500
    checkpoint = CheckpointCallback(save_freq=save_freq, save_path=str(tmp_path), name_prefix="ckpt")
    bursts = RecordBursts()
    whole = resume_model(run).learn(RESUME_STEPS, callback=[checkpoint, bursts])
    assert_ran_as_configured(whole, run)
    saved = sorted(tmp_path.glob("ckpt_*_steps.zip"), key=checkpoint_step)
    # One lane: a checkpoint every save_freq env steps, the compiled path's replayed steps included.
    assert [checkpoint_step(path) for path in saved] == list(range(save_freq, whole.num_timesteps + 1, save_freq))
    counting_to_a_burst = []
    for path in saved:
        restored = CoSyNE.load(path, env=resume_env(run))
        # Taken during a generation, the save records the model as that generation started.
        assert restored.num_timesteps < checkpoint_step(path)
        if restored.strategy.stale_generations == 1 and restored.generation + 1 in bursts.bursts:
            counting_to_a_burst.append(path)
        restored.learn(whole.num_timesteps - restored.num_timesteps, reset_num_timesteps=False)
        assert_ran_as_configured(restored, run)
        assert_same_run(restored, whole)
    # In the stagnation run, a checkpoint falls within a generation that ends in a burst.
    assert bool(counting_to_a_burst) == (run == "stagnation")


@pytest.mark.parametrize("run", list(RESUME_RUNS))
def test_an_exception_mid_generation_keeps_the_last_generation_and_training_goes_on_exactly(tmp_path, run):
    model, last_generation = resume_model(run).learn(RESUME_STEPS), resume_model(run).learn(RESUME_STEPS)
    steps = model.num_timesteps
    with pytest.raises(ValueError, match="the callback failed"):
        model.learn(RESUME_STEPS, callback=RaiseAt(40, ValueError("the callback failed")), reset_num_timesteps=False)
    # Nothing of the interrupted generation is kept but its steps, which were taken.
    assert model.num_timesteps == steps + 40
    model.num_timesteps = steps
    assert_same_run(model, last_generation)
    model.num_timesteps = steps + 40
    # Saved, it is the model after the last completed generation, and training on equals an uninterrupted run.
    model.save(tmp_path / "after_error")
    loaded = CoSyNE.load(tmp_path / "after_error", env=resume_env(run))
    assert_same_run(loaded, last_generation)
    loaded.learn(RESUME_STEPS, reset_num_timesteps=False)
    uninterrupted = resume_model(run).learn(RESUME_STEPS).learn(RESUME_STEPS, reset_num_timesteps=False)
    assert_ran_as_configured(loaded, run)
    assert_same_run(loaded, uninterrupted)
    # In memory too, on a new step count.
    model.learn(RESUME_STEPS)
    uninterrupted = resume_model(run).learn(RESUME_STEPS).learn(RESUME_STEPS)
    assert_same_run(model, uninterrupted)
