"""The batched Numba forward against the torch policy, and the chromosome layout."""

import numpy as np
import pytest
import torch as th
from conftest import ACTION_SPACES, OBSERVATION_SPACES
from numba import njit
from torch import nn

from sb3_cosyne.algorithm.policies import CoSyNELinearPolicy, CoSyNEPolicy
from sb3_cosyne.networks.forward import lanes_forward
from sb3_cosyne.networks.spaces import outputs_to_actions, preprocess_obs


def every_network(test):
    """Parametrize ``test`` over activations, architectures and biases."""
    test = pytest.mark.parametrize("activation_fn", [nn.Tanh, nn.ReLU, nn.ELU, nn.Sigmoid, nn.Identity])(test)
    test = pytest.mark.parametrize("net_arch", [[], [5], [7, 3]])(test)
    return pytest.mark.parametrize("with_bias", [True, False])(test)


def random_networks(activation_fn, net_arch, with_bias, n, seed):
    """A policy on a 3-dimensional Box, ``n`` random chromosomes for it and ``n`` random inputs."""
    policy = CoSyNEPolicy(OBSERVATION_SPACES["box"], ACTION_SPACES["box"], net_arch, activation_fn, with_bias)
    rng = np.random.default_rng(seed)
    return policy, rng.uniform(-3, 3, size=(n, policy.num_params)), rng.normal(size=(n, 3)) * 2


@every_network
def test_numba_forward_matches_torch_for_every_member(activation_fn, net_arch, with_bias):
    policy, params, inputs = random_networks(activation_fn, net_arch, with_bias, 16, seed=0)
    batched = policy.batched_outputs(params, inputs)
    for lane in range(16):
        policy.set_flat_params(params[lane])
        with th.no_grad():
            expected = policy.net(th.as_tensor(inputs[lane : lane + 1])).numpy()
        np.testing.assert_allclose(batched[lane : lane + 1], expected, rtol=0, atol=1e-9)


@njit
def _lanes_outputs(weights, n, inputs, layer_sizes, with_bias, activation, hidden):
    values = np.zeros((layer_sizes.max(), weights.shape[1]))
    values[: inputs.shape[0]] = inputs
    lanes_forward(weights, n, values, np.zeros_like(values), layer_sizes, with_bias, activation, hidden)
    return values[: layer_sizes[-1]]


@every_network
def test_forward_over_lanes_equals_each_network_alone(activation_fn, net_arch, with_bias):
    """The pole rollouts' forward over lanes (networks as columns) gives each network's own outputs, bit for bit."""
    policy, params, inputs = random_networks(activation_fn, net_arch, with_bias, 13, seed=2)
    hidden = np.full((net_arch[-1] if net_arch else 0, 13), np.nan)
    # the last 2 lanes are left out
    network = (policy.layer_sizes, with_bias, policy.activation_code)
    outputs = _lanes_outputs(params.T.copy(), 11, inputs.T.copy(), *network, hidden)
    state = np.zeros((11, hidden.shape[0]))
    expected = policy.batched_outputs(params[:11], inputs[:11], state)
    np.testing.assert_array_equal(outputs[:, :11].T, expected)
    np.testing.assert_array_equal(hidden[:, :11].T, state)
    assert np.isnan(hidden[:, 11:]).all()


@pytest.mark.parametrize("obs_key", sorted(OBSERVATION_SPACES))
@pytest.mark.parametrize("act_key", sorted(ACTION_SPACES))
def test_batched_actions_equal_policy_predict(obs_key, act_key):
    obs_space, act_space = OBSERVATION_SPACES[obs_key], ACTION_SPACES[act_key]
    obs_space.seed(1)
    policy = CoSyNEPolicy(obs_space, act_space, net_arch=[6])
    rng = np.random.default_rng(1)
    params = rng.uniform(-2, 2, size=(12, policy.num_params))
    observations = np.stack([obs_space.sample() for _ in range(12)])
    actions = outputs_to_actions(policy.batched_outputs(params, preprocess_obs(observations, obs_space)), act_space)
    for lane in range(12):
        policy.set_flat_params(params[lane])
        predicted, _ = policy.predict(observations[lane], deterministic=True)
        assert act_space.contains(predicted)
        np.testing.assert_allclose(np.asarray(actions[lane], dtype=np.float64), predicted, rtol=0, atol=1e-6)


def test_flat_params_round_trip_and_neuron_layout():
    policy = CoSyNEPolicy(OBSERVATION_SPACES["box"], ACTION_SPACES["discrete"], net_arch=[4])
    params = np.arange(policy.num_params, dtype=np.float64)
    policy.set_flat_params(params)
    np.testing.assert_array_equal(policy.get_flat_params(), params)
    hidden, output = policy.linear_layers
    # Neuron k of the hidden layer: its 3 input weights, then its bias, contiguous in the chromosome.
    np.testing.assert_array_equal(hidden.weight.detach().numpy()[1], [4, 5, 6])
    assert hidden.bias.detach().numpy()[1] == 7
    np.testing.assert_array_equal(output.weight.detach().numpy()[0], [16, 17, 18, 19])
    assert output.bias.detach().numpy()[0] == 20
    np.testing.assert_array_equal(policy.segments, [0, 4, 8, 12, 16, 21, 26, 31])
    assert policy.num_params == 31


def test_linear_policy_has_one_segment_per_output_neuron():
    policy = CoSyNELinearPolicy(OBSERVATION_SPACES["box"], ACTION_SPACES["box"], with_bias=False)
    assert policy.net_arch == []
    assert policy.num_params == 6
    np.testing.assert_array_equal(policy.segments, [0, 3, 6])


def test_set_flat_params_rejects_wrong_length():
    policy = CoSyNEPolicy(OBSERVATION_SPACES["box"], ACTION_SPACES["box"])
    with pytest.raises(ValueError, match="expected"):
        policy.set_flat_params(np.zeros(policy.num_params + 1))


def test_unsupported_activation_is_named():
    with pytest.raises(ValueError, match="LeakyReLU"):
        CoSyNEPolicy(OBSERVATION_SPACES["box"], ACTION_SPACES["box"], activation_fn=nn.LeakyReLU)


def test_box_actions_are_tanh_squashed_into_the_bounds():
    space = ACTION_SPACES["box"]
    actions = outputs_to_actions(np.array([[0.0, 0.0], [100.0, -100.0], [-100.0, 100.0]]), space)
    np.testing.assert_allclose(actions, [[0.0, 0.5], [2.0, 0.0], [-2.0, 1.0]], atol=1e-6)


def test_discrete_observations_are_one_hot():
    inputs = preprocess_obs(np.array([1, 4, 2]), OBSERVATION_SPACES["discrete"])
    np.testing.assert_array_equal(inputs, [[1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]])
    inputs = preprocess_obs(np.array([[2, 1], [0, 0]]), OBSERVATION_SPACES["multidiscrete"])
    np.testing.assert_array_equal(inputs, [[0, 0, 1, 0, 1], [1, 0, 0, 1, 0]])
