"""SB3's policy-only files: ``model.policy.save(path)`` and ``PolicyClass.load(path)``, as with PPO."""

import gymnasium as gym
import numpy as np
import pytest
from torch import nn

from sb3_cosyne import CoSyNE, LinearPolicy, MlpPolicy, RecurrentPolicy

CASES = [
    (MlpPolicy, "CartPole-v1", dict(normalize_obs=True)),
    (LinearPolicy, "Pendulum-v1", dict(normalize_obs=True)),
    (MlpPolicy, "Pendulum-v1", dict(policy_kwargs=dict(net_arch=[5, 3], activation_fn=nn.ReLU, with_bias=False))),
    (RecurrentPolicy, "sb3_cosyne/SinglePoleNoVel-v0", dict(policy_kwargs=dict(net_arch=[2]), champion_episodes=0)),
]


@pytest.mark.parametrize(("policy_class", "env_id", "kwargs"), CASES, ids=lambda case: getattr(case, "__name__", None))
def test_a_saved_policy_loads_with_its_class_and_acts_alike(tmp_path, policy_class, env_id, kwargs):
    model = CoSyNE(policy_class, env_id, pop_size=8, seed=1, **kwargs).learn(2000)
    model.policy.save(tmp_path / "policy.pth")
    loaded = policy_class.load(tmp_path / "policy.pth")

    assert type(loaded) is type(model.policy)
    np.testing.assert_array_equal(loaded.get_flat_params(), model.champion_params())
    for saved, restored in zip(model.policy.obs_stats(), loaded.obs_stats(), strict=True):
        np.testing.assert_array_equal(saved, restored)
    if kwargs.get("normalize_obs"):
        # the statistics the champion was evaluated with, not the identity
        assert not np.allclose(loaded.obs_stats()[1], 1.0)
    env = gym.make(env_id)
    obs = np.stack([env.reset(seed=seed)[0] for seed in range(6)])
    expected, expected_state = model.predict(obs, deterministic=True)
    actions, state = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, expected)
    if policy_class is RecurrentPolicy:
        np.testing.assert_array_equal(state, expected_state)


def test_parameters_round_trip_through_sb3s_getters_and_setters():
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=2).learn(1500)
    other = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=3)
    other.set_parameters(model.get_parameters())
    np.testing.assert_array_equal(other.champion_params(), model.champion_params())
    vector = model.policy.parameters_to_vector()
    other.policy.load_from_vector(np.zeros_like(vector))
    assert not other.champion_params().any()
    other.policy.load_from_vector(vector)
    np.testing.assert_array_equal(other.champion_params(), model.champion_params())
