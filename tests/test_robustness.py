"""Nothing lost, clear errors: checkpoints, corrupt files, misbehaving envs, bad input, fuzzing."""

import copy
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from conftest import ACTION_SPACES, OBSERVATION_SPACES, SpaceEnv
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback

from sb3_cosyne import CoSyNE, CoSyNEStrategy
from sb3_cosyne.core.strategy import sanitize_fitness
from sb3_cosyne.evaluation.lanes import EnvStepError


def test_mid_generation_checkpoint_resumes_exactly(tmp_path):
    # Per-step callbacks (the compiled fast path calls them per episode).
    kwargs = dict(pop_size=8, seed=11, champion_episodes=2, fast_path=False)
    checkpoint = CheckpointCallback(save_freq=1234, save_path=str(tmp_path), name_prefix="ckpt")
    whole = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(6000, callback=checkpoint)
    saved = sorted(tmp_path.glob("ckpt_*_steps.zip"), key=lambda p: int(p.stem.split("_")[1]))
    assert len(saved) >= 2
    for path in saved:
        restored = CoSyNE.load(path, env=gym.make("CartPole-v1"))
        # The save records the generation it was taken in from its start.
        assert restored.num_timesteps < int(path.stem.split("_")[1])
        restored.learn(whole.num_timesteps - restored.num_timesteps, reset_num_timesteps=False)
        np.testing.assert_array_equal(restored.strategy.population, whole.strategy.population)
        np.testing.assert_array_equal(restored.champion_params(), whole.champion_params())
        assert restored.num_timesteps == whole.num_timesteps


def corrupt_copies(good: str, tmp_path) -> dict[str, str]:
    """Broken variants of a good save file."""
    data = Path(good).read_bytes()
    variants = {"truncated": data[: len(data) // 2], "garbage": b"definitely not a zip"}
    paths = {}
    for name, content in variants.items():
        paths[name] = str(tmp_path / f"{name}.zip")
        Path(paths[name]).write_bytes(content)
    for name, transform in {
        "no_data": lambda member, content: None if member == "data" else content,
        "broken_json": lambda member, content: b"{broken" if member == "data" else content,
        "no_policy": lambda member, content: None if member == "policy.pth" else content,
        "broken_policy": lambda member, content: content[:40] if member == "policy.pth" else content,
    }.items():
        paths[name] = str(tmp_path / f"{name}.zip")
        with zipfile.ZipFile(good) as source, zipfile.ZipFile(paths[name], "w") as target:
            for member in source.namelist():
                content = transform(member, source.read(member))
                if content is not None:
                    target.writestr(member, content)
    return paths


def test_corrupt_save_files_raise_a_clear_error(tmp_path):
    CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8).save(tmp_path / "good")
    for path in corrupt_copies(str(tmp_path / "good.zip"), tmp_path).values():
        with pytest.raises(ValueError, match=r"(cannot load .*\.zip as a CoSyNE model|wasn't a zip-file)"):
            CoSyNE.load(path)


class FailingEnv(gym.Env):
    """Raises in ``step`` at a chosen call, or in ``reset`` at a chosen call."""

    observation_space = gym.spaces.Box(-1, 1, shape=(2,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self, fail_step: int = -1, fail_reset: int = -1) -> None:
        self.fail_step, self.fail_reset = fail_step, fail_reset
        self.steps = self.resets = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.resets += 1
        if self.resets == self.fail_reset:
            raise OSError("simulator lost its licence")
        self.t = 0
        return self.np_random.uniform(-1, 1, size=2).astype(np.float32), {}

    def step(self, action):
        self.steps += 1
        if self.steps == self.fail_step:
            raise RuntimeError("simulator exploded")
        self.t += 1
        obs = self.np_random.uniform(-1, 1, size=2).astype(np.float32)
        return obs, float(action == (obs[0] > 0)), False, self.t >= 10, {}


@pytest.mark.parametrize("where, match", [("step", "RuntimeError: simulator exploded"), ("reset", "OSError: simulator lost")])
def test_env_errors_name_network_and_lane_and_leave_the_model_resumable(tmp_path, where, match):
    env = FailingEnv(fail_step=8 * 10 * 3 + 25) if where == "step" else FailingEnv(fail_reset=8 * 3 + 4)
    model = CoSyNE("MlpPolicy", env, pop_size=8, seed=2, champion_episodes=0)
    reference = CoSyNE("MlpPolicy", FailingEnv(), pop_size=8, seed=2, champion_episodes=0)
    reference.learn(8 * 10 * 3)
    with pytest.raises(EnvStepError, match=rf"raised {match}.* in lane 0 while evaluating network \d+"):
        model.learn(8 * 10 * 6)
    assert model.generation == 3
    np.testing.assert_array_equal(model.strategy.population, reference.strategy.population)
    model.save(tmp_path / "after_error")
    resumed = CoSyNE.load(tmp_path / "after_error", env=FailingEnv())
    resumed.learn(8 * 10 * 2, reset_num_timesteps=False)
    reference.learn(8 * 10 * 2, reset_num_timesteps=False)
    np.testing.assert_array_equal(resumed.strategy.population, reference.strategy.population)


@pytest.mark.parametrize(
    "space, name",
    [
        (gym.spaces.Text(5), "Text"),
        (gym.spaces.Graph(node_space=gym.spaces.Box(0, 1, shape=(2,)), edge_space=None), "Graph"),
        (gym.spaces.Dict({"a": gym.spaces.Box(0, 1, shape=(2,))}), "Dict"),
        (gym.spaces.Tuple([gym.spaces.Discrete(2)]), "Tuple"),
    ],
)
def test_unsupported_observation_spaces_are_named_with_a_hint(space, name):
    with pytest.raises(ValueError, match=rf"observation space {name}.*supported are Box"):
        CoSyNE("MlpPolicy", SpaceEnv(space, ACTION_SPACES["discrete"]))


def test_unsupported_action_space_is_named():
    with pytest.raises(ValueError, match=r"action space Text.*supported are bounded Box"):
        CoSyNE("MlpPolicy", SpaceEnv(OBSERVATION_SPACES["box"], gym.spaces.Text(4)))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(shared_starts="yes"), "shared_starts"),
        (dict(normalize_obs=1), "normalize_obs"),
        (dict(pop_size=12.0), "pop_size"),
        (dict(mutation_prob="0.3"), "mutation_prob"),
        (dict(policy_kwargs=dict(net_arhc=[8])), "policy_kwargs"),
        (dict(policy_kwargs=dict(net_arch=[0])), "net_arch"),
    ],
)
def test_wrong_types_raise_at_construction(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CoSyNE("MlpPolicy", "CartPole-v1", **kwargs)


def random_space_env(rng: np.random.Generator) -> SpaceEnv:
    """A small env with a random Box or Discrete observation and action space."""
    obs = (
        gym.spaces.Box(-2, 2, shape=(int(rng.integers(1, 5)),), dtype=np.float32)
        if rng.random() < 0.5
        else gym.spaces.Discrete(int(rng.integers(2, 6)))
    )
    action = (
        gym.spaces.Box(-1, 3, shape=(int(rng.integers(1, 4)),), dtype=np.float32)
        if rng.random() < 0.5
        else gym.spaces.Discrete(int(rng.integers(2, 5)))
    )
    return SpaceEnv(obs, action, episode_length=int(rng.integers(1, 8)))


def test_fuzz_random_valid_settings_train_and_invalid_ones_raise():
    rng = np.random.default_rng(1234)
    for _ in range(12):
        env = random_space_env(rng)
        pop_size = int(rng.integers(4, 24))
        kwargs = dict(
            pop_size=pop_size,
            parent_fraction=float(rng.uniform(1.0 / pop_size, 1.0 / 3.0)),
            mutation_prob=float(rng.uniform(0, 1)),
            mutation_scale=float(rng.uniform(0, 2)),
            permutation=str(rng.choice(["all", "proportional", "none"])),
            mutation_target=str(rng.choice(["offspring", "non_parents"])),
            n_eval_episodes=int(rng.integers(1, 3)),
            champion_episodes=int(rng.integers(0, 3)),
            shared_starts=bool(rng.random() < 0.5),
            init_scale=float(rng.uniform(0, 5)),
            normalize_obs=isinstance(env.observation_space, gym.spaces.Box) and bool(rng.random() < 0.5),
            policy_kwargs=dict(net_arch=[int(u) for u in rng.integers(1, 6, size=rng.integers(0, 3))]),
        )
        model = CoSyNE("MlpPolicy", env, seed=int(rng.integers(1000)), **kwargs)
        model.learn(pop_size * env.episode_length * kwargs["n_eval_episodes"] * 3)
        assert model.generation >= 1
        assert np.all(np.isfinite(model.strategy.population))
        assert env.action_space.contains(model.predict(env.observation_space.sample())[0])
    invalid = [
        dict(pop_size=int(rng.integers(-5, 4))),
        dict(parent_fraction=float(rng.uniform(0.34, 1.0)), pop_size=12),
        dict(mutation_prob=float(rng.uniform(1.01, 3))),
        dict(mutation_prob=float(rng.uniform(-3, -0.01))),
        dict(mutation_scale=float(rng.uniform(-3, -0.01))),
        dict(init_scale=float("inf")),
        dict(n_eval_episodes=int(rng.integers(-3, 1))),
        dict(permutation="shuffle"),
    ]
    for kwargs in invalid:
        with pytest.raises(ValueError):
            CoSyNE("MlpPolicy", random_space_env(rng), **kwargs)


class InfObservationEnv(FailingEnv):
    """Returns an infinite observation when action 1 is taken at step 4."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if action == 1 and self.t == 4:
            obs = np.array([np.inf, 0.0], dtype=np.float32)
        return obs, reward, terminated, truncated, info


class RecordChampions(BaseCallback):
    def _on_training_start(self) -> None:
        self.champions = []

    def _on_rollout_end(self) -> None:
        self.champions.append(self.model.champion_params())

    def _on_step(self) -> bool:
        return True


def test_infinite_observations_give_the_worst_fitness_and_one_warning(monkeypatch):
    # Every generation's strategy before and after its tell, and the fitness it was told.
    told, tell = [], CoSyNEStrategy.tell

    def recording_tell(strategy, fitness):
        before = copy.deepcopy(strategy)
        tell(strategy, fitness)
        told.append((before, np.array(fitness, dtype=np.float64), copy.deepcopy(strategy)))

    monkeypatch.setattr(CoSyNEStrategy, "tell", recording_tell)
    model = CoSyNE("MlpPolicy", InfObservationEnv(), pop_size=8, seed=0, shared_starts=False, champion_episodes=2)
    champions = RecordChampions()
    with pytest.warns(UserWarning, match=r"non-finite observation at step 4 of network \d+") as record:
        model.learn(8 * 10 * 5, callback=champions)
    assert sum("non-finite" in str(w.message) for w in record) == 1
    assert model.generation >= 3
    assert np.isfinite(model.best_fitness)
    assert np.all(np.isfinite(model.strategy.fitness) | np.isnan(model.strategy.fitness))
    assert np.isnan(model.strategy.fitness).any()
    assert len(told) == len(champions.champions) == model.generation
    broken_generations = 0
    for (before, fitness, after), champion in zip(told, champions.champions, strict=True):
        broken = np.isnan(fitness)
        if not broken.any():
            continue
        broken_generations += 1
        # A broken episode's network gets exactly the strategy's worst fitness: one below the worst finite one.
        worst = fitness[~broken].min() - 1.0
        np.testing.assert_array_equal(sanitize_fitness(fitness)[broken], worst)
        # The strategy ranks it so: told that value instead of NaN, it makes the same generation.
        replay = copy.deepcopy(before)
        tell(replay, np.where(broken, worst, fitness))
        np.testing.assert_array_equal(replay.population, after.population)
        assert replay.rng.bit_generator.state == after.rng.bit_generator.state
        # Never a parent, never the champion.
        order = np.argsort(-np.where(broken, worst, fitness), kind="stable")
        assert not broken[order[: before.n_parents]].any()
        assert not any(np.array_equal(champion, network) for network in before.ask()[broken])
    assert broken_generations >= 2
