"""Training runs: every space kind, the SB3 contract, callbacks, budgets and logging."""

import importlib

import gymnasium as gym
import numpy as np
import pytest
from conftest import ACTION_SPACES, OBSERVATION_SPACES, RaiseAt, SpaceEnv
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from sb3_cosyne import CoSyNE, MlpPolicy


@pytest.mark.parametrize("obs_key", sorted(OBSERVATION_SPACES))
@pytest.mark.parametrize("act_key", sorted(ACTION_SPACES))
def test_every_space_kind_trains_and_beats_the_first_generation(obs_key, act_key):
    env = SpaceEnv(OBSERVATION_SPACES[obs_key], ACTION_SPACES[act_key])
    model = CoSyNE("MlpPolicy", env, pop_size=8, seed=0, policy_kwargs=dict(net_arch=[4]), champion_episodes=2)
    model.learn(1)
    first_generation_mean = model.strategy.fitness.mean()
    model.learn(8 * 20 * 6, reset_num_timesteps=False)
    assert model.generation >= 4
    assert model.best_fitness > first_generation_mean
    assert model.num_timesteps == 20 * model.num_evaluations
    action, _ = model.predict(env.observation_space.sample(), deterministic=True)
    assert env.action_space.contains(action)


def test_continuous_control_improves_over_generations():
    model = CoSyNE("MlpPolicy", "Pendulum-v1", pop_size=12, seed=1, champion_episodes=2)
    model.learn(200 * 12)
    first = model.best_fitness
    model.learn(200 * 12 * 15, reset_num_timesteps=False)
    assert model.best_fitness > first + 100


@pytest.mark.parametrize("space", [gym.spaces.Dict({"a": gym.spaces.Discrete(2)}), gym.spaces.Tuple([gym.spaces.Discrete(2)])])
def test_unsupported_observation_space_is_named(space):
    with pytest.raises(ValueError, match=r"observation space (Dict|Tuple)"):
        CoSyNE("MlpPolicy", SpaceEnv(space, ACTION_SPACES["discrete"]))


def test_unbounded_box_actions_are_rejected():
    space = gym.spaces.Box(-np.inf, np.inf, shape=(2,))
    with pytest.raises(ValueError, match="bounded Box action space"):
        CoSyNE("MlpPolicy", SpaceEnv(OBSERVATION_SPACES["box"], space))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(pop_size=3), "pop_size"),
        (dict(pop_size=8, parent_fraction=0.5), "parent_fraction"),
        (dict(mutation_prob=1.5), "mutation_prob"),
        (dict(mutation_scale=-0.1), "mutation_scale"),
        (dict(permutation="random"), "permutation"),
        (dict(mutation_target="all"), "mutation_target"),
        (dict(n_eval_episodes=0), "n_eval_episodes"),
        (dict(champion_episodes=-1), "champion_episodes"),
        (dict(init_scale=float("nan")), "init_scale"),
    ],
)
def test_invalid_hyperparameters_raise_at_construction(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CoSyNE("MlpPolicy", "CartPole-v1", **kwargs)


class StopAfter(BaseCallback):
    def __init__(self, n_calls: int) -> None:
        super().__init__()
        self.limit = n_calls

    def _on_step(self) -> bool:
        return self.n_calls < self.limit


def test_callback_returning_false_stops_at_once_and_keeps_the_last_generation():
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=0, fast_path=False)
    model.learn(2000)
    population, generation = model.strategy.population.copy(), model.generation
    champion, steps = model.champion_params(), model.num_timesteps
    model.learn(100_000, callback=StopAfter(37), reset_num_timesteps=False)
    assert model.num_timesteps == steps + 37
    assert model.generation == generation
    np.testing.assert_array_equal(model.strategy.population, population)
    np.testing.assert_array_equal(model.champion_params(), champion)


def test_learn_stops_within_the_generation_in_progress():
    model = CoSyNE("MlpPolicy", "Pendulum-v1", pop_size=8, seed=0, champion_episodes=0)
    model.learn(1000)
    # Pendulum episodes last 200 steps: 8 networks = 1600 steps per generation.
    assert model.num_timesteps == 1600
    model.learn(1601, reset_num_timesteps=False)
    assert model.num_timesteps == 1600 + 3200


class RecordProgress(BaseCallback):
    def _on_training_start(self) -> None:
        self.total = self.locals["total_timesteps"]
        self.remaining = []

    def _on_rollout_start(self) -> None:
        self.remaining.append(self.model._current_progress_remaining)

    def _on_step(self) -> bool:
        return True


def test_progress_stays_right_when_training_continues():
    model = CoSyNE("MlpPolicy", "Pendulum-v1", pop_size=8, seed=0, champion_episodes=0)
    model.learn(3200)
    progress = RecordProgress()
    model.learn(3200, callback=progress, reset_num_timesteps=False, progress_bar=True)
    assert progress.total == 6400
    # SB3's convention: progress runs over the cumulative total, here from step 3200 of 6400.
    assert progress.remaining == [0.5, 0.25]
    assert model.num_timesteps == 6400


def test_logger_records_fitness_evaluations_and_fps(tmp_path):
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(3000)
    lines = (tmp_path / "progress.csv").read_text().splitlines()
    header = lines[0].split(",")
    for key in ["rollout/gen_best", "rollout/gen_mean", "rollout/gen_worst", "train/best_fitness", "train/evaluations",
                "time/fps", "train/generation", "rollout/ep_rew_mean"]:  # fmt: skip
        assert key in header
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert len(rows) == model.generation
    assert int(rows[-1]["train/evaluations"]) == model.num_evaluations
    assert all(float(r["rollout/gen_best"]) >= float(r["rollout/gen_mean"]) >= float(r["rollout/gen_worst"]) for r in rows)


def test_eval_checkpoint_and_stop_callbacks(tmp_path):
    eval_env = make_vec_env("CartPole-v1", seed=5)
    stop = StopTrainingOnRewardThreshold(reward_threshold=150, verbose=0)
    eval_cb = EvalCallback(eval_env, callback_on_new_best=stop, eval_freq=500, n_eval_episodes=3, verbose=0,
                           best_model_save_path=str(tmp_path / "best"))  # fmt: skip
    checkpoint = CheckpointCallback(save_freq=300, save_path=str(tmp_path / "ckpt"), name_prefix="cosyne")
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=16, seed=0)
    model.learn(200_000, callback=[eval_cb, checkpoint])
    assert model.num_timesteps < 200_000
    assert eval_cb.best_mean_reward >= 150
    assert (tmp_path / "best" / "best_model.zip").exists()
    checkpoints = sorted((tmp_path / "ckpt").glob("cosyne_*_steps.zip"), key=lambda path: int(path.stem.split("_")[1]))
    # One lane: a checkpoint every 300 env steps, up to where training stopped.
    steps = [int(path.stem.split("_")[1]) for path in checkpoints]
    assert steps == list(range(300, model.num_timesteps + 1, 300))
    # The last one, at the very step where the eval callback stopped training within the generation in progress
    # (step 1500, both a save and an evaluation step), holds the model as it was when that generation started.
    assert steps[-1] == model.num_timesteps == 1500
    restored = CoSyNE.load(checkpoints[-1])
    assert 0 < restored.num_timesteps < steps[-1]
    assert restored.generation == model.generation == 2
    np.testing.assert_array_equal(restored.strategy.population, model.strategy.population)
    np.testing.assert_array_equal(restored.champion_params(), model.champion_params())


class RecordGenerationBests(BaseCallback):
    """Each generation's best network (the one that challenges the champion), as evaluated."""

    def _on_training_start(self) -> None:
        self.bests = []

    def _on_rollout_start(self) -> None:
        self.candidates = self.model.strategy.ask()

    def _on_rollout_end(self) -> None:
        self.bests.append(self.candidates[int(np.argmax(self.model.strategy.fitness))])

    def _on_step(self) -> bool:
        return True


def test_evaluate_policy_uses_the_champion():
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=16, seed=2)
    record = RecordGenerationBests()
    model.learn(30_000, callback=record)
    champion = model.champion_params()
    # The champion is the best network of generation 14 of 15: the last challenger lost its re-tests.
    crowned = [generation for generation, best in enumerate(record.bests) if np.array_equal(best, champion)]
    assert crowned == [13] and len(record.bests) == model.generation == 15
    assert not any(np.array_equal(champion, network) for network in model.strategy.population.T)
    # predict, and so evaluate_policy, runs exactly that network, and not the last generation's best.
    policy, last_best = (MlpPolicy(model.observation_space, model.action_space, net_arch=model.policy.net_arch) for _ in "ab")
    policy.set_flat_params(champion)
    last_best.set_flat_params(record.bests[-1])
    observations = np.random.default_rng(0).uniform(-1, 1, size=(500, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(observations)[0], policy.predict(observations)[0])
    assert not np.array_equal(model.predict(observations)[0], last_best.predict(observations)[0])
    returns = [evaluate_policy(agent, make_vec_env("CartPole-v1", seed=9), n_eval_episodes=5, return_episode_rewards=True)[0]
               for agent in (model, policy)]  # fmt: skip
    assert returns[0] == returns[1]
    assert np.mean(returns[0]) > 100
    assert model.best_fitness > 100


def test_nan_env_never_gives_a_nan_champion():
    class SometimesNaN(SpaceEnv):
        def step(self, action):
            obs, reward, terminated, truncated, info = super().step(action)
            if float(np.asarray(action).ravel()[0]) > 0.5:
                reward = np.nan
            return obs, reward, terminated, truncated, info

    env = SometimesNaN(OBSERVATION_SPACES["box"], ACTION_SPACES["box"])
    model = CoSyNE("MlpPolicy", env, pop_size=8, seed=0)
    with pytest.warns(UserWarning, match="non-finite reward"):
        model.learn(8 * 20 * 4)
    assert np.isfinite(model.best_fitness)
    assert np.all(np.isfinite(model.champion_params()))


@pytest.mark.parametrize("vec_env_cls, n_envs, compiled", [(DummyVecEnv, 3, True), (SubprocVecEnv, 2, False)])
def test_multiple_lanes_give_the_same_training_as_one(vec_env_cls, n_envs, compiled):
    single = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=3, fast_path=False).learn(3000)
    env = make_vec_env("CartPole-v1", n_envs=n_envs, vec_env_cls=vec_env_cls)
    try:
        # The default fast_path=True: the compiled rollout runs the lanes of a DummyVecEnv, never those of a
        # SubprocVecEnv, whose envs live in other processes.
        lanes = CoSyNE("MlpPolicy", env, pop_size=8, seed=3).learn(3000)
    finally:
        env.close()
    assert (lanes._compiled_rollout is not None) == compiled
    np.testing.assert_array_equal(single.strategy.population, lanes.strategy.population)
    np.testing.assert_array_equal(single.champion_params(), lanes.champion_params())
    assert single.num_timesteps == lanes.num_timesteps


class RecordObsStats(BaseCallback):
    def _on_training_start(self) -> None:
        self.snapshots = []

    def _on_rollout_start(self) -> None:
        self.snapshots.append(self.model.obs_rms.mean.copy())

    def _on_step(self) -> bool:
        return True


def test_normalize_obs_tracks_statistics_and_stores_them_with_the_champion():
    model = CoSyNE("MlpPolicy", "Pendulum-v1", pop_size=8, seed=0, normalize_obs=True, champion_episodes=0)
    record = RecordObsStats()
    model.learn(200 * 8 * 6, callback=record)
    assert model.obs_rms.count > 200 * 8 * 5
    # Pendulum's (cos, sin, velocity): the velocity's spread dwarfs the others'.
    assert model.obs_rms.var[2] > model.obs_rms.var[0]
    # The champion keeps the statistics of the generation that crowned it, not the latest ones.
    mean, std = model.policy.obs_stats()
    assert any(np.array_equal(mean, snapshot) for snapshot in record.snapshots[1:])
    assert not np.array_equal(mean, model.obs_rms.mean)
    assert np.all(std > 0)


def test_normalize_obs_needs_box_observations():
    with pytest.raises(ValueError, match="normalize_obs=True needs a Box"):
        CoSyNE("MlpPolicy", SpaceEnv(OBSERVATION_SPACES["discrete"], ACTION_SPACES["discrete"]), normalize_obs=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cartpole_is_solved_within_budget(seed):
    model = CoSyNE("MlpPolicy", "CartPole-v1", seed=seed)
    model.learn(total_timesteps=50_000)
    env = make_vec_env("CartPole-v1", seed=1000 + seed)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)
    assert mean >= 475


def test_dummy_vec_env_of_several_lanes_is_supported():
    env = DummyVecEnv([lambda: gym.make("CartPole-v1")] * 2)
    model = CoSyNE("LinearPolicy", env, pop_size=8, seed=0).learn(1000)
    assert model.policy.net_arch == []
    assert model.num_timesteps >= 1000


class LuckyEnv(gym.Env):
    """One-step episodes whose reward ignores the action: 100 on one reset seed in ten, else 0."""

    observation_space = gym.spaces.Box(-1, 1, shape=(1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.lucky = self.np_random.random() < 0.1
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), 100.0 if self.lucky else 0.0, True, False, {}


def test_a_lucky_episode_does_not_crown_a_champion():
    kwargs = dict(pop_size=20, seed=0, shared_starts=False)
    naive = CoSyNE("MlpPolicy", LuckyEnv(), champion_episodes=0, **kwargs).learn(20 * 10)
    assert naive.best_fitness == 100.0
    paired = CoSyNE("MlpPolicy", LuckyEnv(), champion_episodes=10, **kwargs).learn(20 * 30)
    # Every network's true mean is 10: the paired re-tests keep the champion's score near it.
    assert paired.best_fitness < 40.0


def test_an_interrupted_generation_leaves_the_model_resumable(tmp_path):
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=4, fast_path=False).learn(1500)
    reference = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=4, fast_path=False).learn(1500)
    population, steps = model.strategy.population.copy(), model.num_timesteps
    with pytest.raises(KeyboardInterrupt):
        model.learn(10_000, callback=RaiseAt(50, KeyboardInterrupt()), reset_num_timesteps=False)
    np.testing.assert_array_equal(model.strategy.population, population)
    assert model.num_timesteps == steps + 50
    model.save(tmp_path / "interrupted")
    resumed = CoSyNE.load(tmp_path / "interrupted", env=gym.make("CartPole-v1")).learn(1500, reset_num_timesteps=True)
    reference.learn(1500, reset_num_timesteps=True)
    np.testing.assert_array_equal(resumed.strategy.population, reference.strategy.population)
    np.testing.assert_array_equal(resumed.champion_params(), reference.champion_params())


@pytest.mark.parametrize("fast_path", [True, False])
def test_progress_bar_counts_every_step(fast_path):
    from stable_baselines3.common.callbacks import ProgressBarCallback

    class Inspect(BaseCallback):
        def _on_training_end(self) -> None:
            bar = next(c for c in self.model._last_callbacks if isinstance(c, ProgressBarCallback))
            self.counted, self.total = bar.pbar.n, bar.pbar.total

        def _on_step(self) -> bool:
            return True

    model = CoSyNE("MlpPolicy", "Pendulum-v1", pop_size=8, seed=0, champion_episodes=0, fast_path=fast_path)
    model.learn(1600)
    inspect = Inspect()
    original = model._init_callback

    def keep(callback, progress_bar=False):
        wrapped = original(callback, progress_bar)
        model._last_callbacks = wrapped.callbacks
        return wrapped

    model._init_callback = keep
    model.learn(3200, callback=inspect, reset_num_timesteps=False, progress_bar=True)
    assert (model._compiled_rollout is not None) == fast_path
    assert inspect.total == 3200
    assert inspect.counted == 3200


@pytest.mark.parametrize("module", ["sb3_cosyne", "sb3_cosyne.cosyne"])
def test_every_public_name_is_importable(module):
    # `from sb3_cosyne import *` fails on a name listed in __all__ but not imported.
    namespace: dict = {}
    exec(f"from {module} import *", namespace)
    imported = importlib.import_module(module)
    assert set(imported.__all__) <= set(namespace)
    assert {"CoSyNE", "SubprocEvaluator", "RayEvaluator", "BaseEvaluator"} <= set(namespace)
