"""The recurrent policy: Numba and torch agree step by step, state is carried per lane and reset per episode."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_cosyne import CoSyNE, RecurrentPolicy
from sb3_cosyne.evaluation.lanes import evaluate_networks
from sb3_cosyne.networks.spaces import outputs_to_actions, preprocess_obs


def make_policy(units: int = 3, env_id: str = "sb3_cosyne/SinglePoleNoVel-v0") -> RecurrentPolicy:
    env = gym.make(env_id)
    return RecurrentPolicy(env.observation_space, env.action_space, net_arch=[units])


def test_layout_groups_input_and_recurrent_weights_per_neuron():
    policy = make_policy(units=3)
    # 2 inputs + 3 recurrent + bias per hidden neuron, 3 weights + bias for the output.
    np.testing.assert_array_equal(policy.segments, [0, 6, 12, 18, 22])
    assert policy.num_params == 22
    assert (policy.obs_dim, policy.state_dim) == (2, 3)
    params = np.arange(22, dtype=np.float64)
    policy.set_flat_params(params)
    hidden = policy.linear_layers[0]
    np.testing.assert_array_equal(hidden.weight.detach().numpy()[1], [6, 7, 8, 9, 10])
    np.testing.assert_array_equal(policy.get_flat_params(), params)


def test_numba_and_torch_agree_over_a_sequence_with_state():
    policy = make_policy(units=4)
    rng = np.random.default_rng(0)
    params = rng.uniform(-2, 2, size=(6, policy.num_params))
    observations = rng.normal(size=(20, 6, 2))
    numba_state = policy.initial_state(6)
    for lane in range(6):
        policy.set_flat_params(params[lane])
        torch_state = policy.initial_state(1)
        numba_lane_state = np.zeros((1, 4))
        for t in range(20):
            inputs = preprocess_obs(observations[t, lane : lane + 1], policy.observation_space)
            out = policy.batched_outputs(params[lane : lane + 1], inputs, numba_lane_state)
            action, torch_state = policy.act(observations[t, lane : lane + 1], torch_state)
            np.testing.assert_allclose(numba_lane_state, torch_state, rtol=0, atol=1e-12)
            np.testing.assert_allclose(outputs_to_actions(out, policy.action_space), action, rtol=0, atol=1e-6)
    # All lanes at once give the same states as one at a time.
    for t in range(20):
        policy.batched_outputs(params, preprocess_obs(observations[t], policy.observation_space), numba_state)
    np.testing.assert_allclose(numba_state[-1], numba_lane_state[0], rtol=0, atol=1e-12)


def test_predict_carries_state_and_resets_at_episode_start():
    policy = make_policy(units=3)
    policy.set_flat_params(np.random.default_rng(1).uniform(-3, 3, size=policy.num_params))
    obs = np.array([[0.1, -0.2], [0.3, 0.4]])
    first, state = policy.predict(obs)
    second, state2 = policy.predict(obs, state=state, episode_start=np.array([False, False]))
    assert state.shape == (2, 3)
    assert not np.allclose(state, state2)
    reset, state3 = policy.predict(obs, state=state2, episode_start=np.array([True, False]))
    np.testing.assert_array_equal(reset[0], first[0])
    np.testing.assert_array_equal(state3[0], state[0])
    single, single_state = policy.predict(obs[0])
    assert single.shape == policy.action_space.shape and single_state.shape == (1, 3)


def single_env_return(policy: RecurrentPolicy, params: np.ndarray, seed: int, env_id: str) -> float:
    env = gym.make(env_id, max_episode_steps=200)
    obs, _ = env.reset(seed=seed)
    policy.set_flat_params(params)
    state, total, done = None, 0.0, False
    while not done:
        action, state = policy.predict(obs, state=state)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += reward
        done = terminated or truncated
    return total


@pytest.mark.parametrize("n_lanes", [1, 3])
def test_lanes_carry_their_own_state(n_lanes):
    env_id = "sb3_cosyne/DoublePoleNoVel-v0"
    policy = make_policy(units=2, env_id=env_id)
    params = np.random.default_rng(2).uniform(-3, 3, size=(5, policy.num_params))
    seeds = np.arange(5).reshape(5, 1)
    env = make_vec_env(env_id, n_envs=n_lanes, env_kwargs=dict(max_episode_steps=200))
    result = evaluate_networks(env, policy, params, seeds)
    expected = [single_env_return(policy, params[n], int(seeds[n, 0]), env_id) for n in range(5)]
    np.testing.assert_array_equal(result.returns[:, 0], expected)
    assert len(set(expected)) > 1


def test_recurrent_cosyne_balances_a_pole_without_velocities(tmp_path):
    env = Monitor(gym.make("sb3_cosyne/SinglePoleNoVel-v0", max_episode_steps=1000))
    model = CoSyNE("RecurrentPolicy", env, pop_size=20, seed=0, champion_episodes=0, policy_kwargs=dict(net_arch=[3]))
    model.learn(300_000)
    assert model.best_fitness == 1000
    mean, _ = evaluate_policy(model, env, n_eval_episodes=2)
    assert mean == 1000
    model.save(tmp_path / "recurrent")
    loaded = CoSyNE.load(tmp_path / "recurrent", env=env)
    obs = np.random.default_rng(3).normal(size=(4, 2))
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    np.testing.assert_array_equal(loaded.predict(obs)[1], model.predict(obs)[1])


def test_recurrent_policy_needs_one_layer():
    with pytest.raises(ValueError, match="exactly one recurrent layer"):
        CoSyNE("RecurrentPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[4, 4]))
