"""Mirror-symmetric networks: the ties make the policy equivariant, CoSyNE evolves only the free parameters."""

import gymnasium as gym
import numpy as np
import pytest
from conftest import CARTPOLE_MIRROR

from sb3_cosyne import CoSyNE, LinearPolicy, MlpPolicy, RecurrentPolicy
from sb3_cosyne.envs import MIRRORS
from sb3_cosyne.networks.symmetry import Mirror

# (env id, policy, hidden layers, free parameters): LunarLander's 108 parameters tie down to 55.
KNOWN = [
    ("LunarLander-v3", MlpPolicy, [8], 55),
    ("LunarLanderContinuous-v3", MlpPolicy, [8], 45),
    ("BipedalWalker-v3", LinearPolicy, [], 50),
    ("BipedalWalker-v3", MlpPolicy, [4, 2], None),
]


def make_policy(env_id, policy_class, net_arch):
    env = gym.make(env_id)
    return policy_class(env.observation_space, env.action_space, net_arch=net_arch, mirror=env_id)


@pytest.mark.parametrize(("env_id", "policy_class", "net_arch", "n_free"), KNOWN)
def test_a_tied_network_acts_in_the_mirror_as_the_mirror_of_its_action(env_id, policy_class, net_arch, n_free):
    policy = make_policy(env_id, policy_class, net_arch)
    if n_free is not None:
        assert policy.num_free_params == n_free
    assert policy.free_segments[-1] == policy.num_free_params < policy.num_params
    rng = np.random.default_rng(0)
    mirror = Mirror(**MIRRORS[env_id])
    for _ in range(5):
        policy.set_flat_params(policy.expand(rng.normal(size=policy.num_free_params)))
        obs = rng.normal(size=(20, len(mirror.obs_perm)))
        mirrored = obs[:, mirror.obs_perm] * mirror.obs_sign
        action, mirrored_action = policy.predict(obs)[0], policy.predict(mirrored)[0]
        if isinstance(policy.action_space, gym.spaces.Discrete):
            np.testing.assert_array_equal(mirrored_action, np.array(mirror.action_perm)[action])
        else:
            np.testing.assert_allclose(mirrored_action, action[:, mirror.action_perm] * mirror.action_sign, atol=1e-12)


def test_an_untied_network_is_not_equivariant_and_evolves_every_parameter():
    env = gym.make("LunarLander-v3")
    policy = MlpPolicy(env.observation_space, env.action_space)
    assert policy.num_free_params == policy.num_params == 108
    np.testing.assert_array_equal(policy.free_segments, policy.segments)


def test_training_evolves_the_free_parameters_and_returns_a_tied_champion():
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=12, seed=0, policy_kwargs=dict(mirror=CARTPOLE_MIRROR))
    model.learn(20_000)
    policy = model.policy
    assert model.strategy.population.shape == (policy.num_free_params, 12) and policy.num_free_params < policy.num_params
    # The champion is the expansion of its free parameters: read them back through the tie and expand again.
    champion = model.champion_params()
    free = np.zeros(policy.num_free_params)
    tied = policy.tie.sign != 0
    free[policy.tie.index[tied]] = champion[tied] * policy.tie.sign[tied]
    np.testing.assert_array_equal(policy.expand(free), champion)
    assert model.champion.mean > 150  # CartPole learns with half the parameters


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(mirror="Pendulum-v1"), r"one of the envs with a known mirror \['BipedalWalker-v3'"),
        (dict(mirror="LunarLander-v3", net_arch=[5]), r"even size, got \[5\]"),
        (dict(mirror=dict(MIRRORS["BipedalWalker-v3"])), "the mirror maps 24 observation and 4 action components"),
    ],
)
def test_a_mirror_that_does_not_fit_is_refused_with_the_fix(kwargs, message):
    env = gym.make("LunarLander-v3")
    with pytest.raises(ValueError, match=message):
        MlpPolicy(env.observation_space, env.action_space, **kwargs)


def test_a_recurrent_policy_cannot_be_mirrored():
    env = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="feed-forward policy"):
        RecurrentPolicy(env.observation_space, env.action_space, net_arch=[2], mirror=CARTPOLE_MIRROR)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(obs_perm=(1, 2, 0), obs_sign=(1, 1, 1)), "its own inverse"),
        (dict(obs_perm=(0, 1), obs_sign=(1, 2)), r"only \+1 and -1"),
        (dict(obs_perm=(0, 1), obs_sign=(1,)), "the same length"),
    ],
)
def test_a_mirror_must_be_an_involution_with_signs(fields, message):
    with pytest.raises(ValueError, match=message):
        Mirror(**fields, action_perm=(0,), action_sign=(1,))
