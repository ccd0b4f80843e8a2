"""The torch batched forward: the Numba forward's outputs to 1e-12, the same episodes, and training with it."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from torch import nn

from sb3_cosyne import CoSyNE
from sb3_cosyne.algorithm import cosyne as cosyne_module
from sb3_cosyne.algorithm.policies import LinearPolicy, MlpPolicy, RecurrentPolicy
from sb3_cosyne.evaluation.lanes import evaluate_networks
from sb3_cosyne.networks.torch_forward import TORCH_MIN_LANE_PARAMS, TorchForward, use_torch_forward

#: the documented agreement of the torch forward's outputs with the Numba forward's
RTOL = ATOL = 1e-12
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA"))]


def spaces_of(env_id: str):
    env = gym.make(env_id)
    return env.observation_space, env.action_space


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "policy_class, kwargs",
    [
        (MlpPolicy, dict(net_arch=[16, 16])),
        (MlpPolicy, dict(net_arch=[8], activation_fn=nn.ReLU, with_bias=False)),
        (MlpPolicy, dict(net_arch=[8, 4], activation_fn=nn.ELU)),
        (MlpPolicy, dict(net_arch=[8], activation_fn=nn.Sigmoid)),
        (MlpPolicy, dict(net_arch=[8], activation_fn=nn.Identity)),
        (LinearPolicy, {}),
        (RecurrentPolicy, dict(net_arch=[5])),
    ],
)
def test_outputs_match_the_numba_forward(device, policy_class, kwargs):
    policy = policy_class(*spaces_of("BipedalWalker-v3"), **kwargs)
    rng = np.random.default_rng(0)
    population = rng.uniform(-2, 2, size=(7, policy.num_params))
    lanes = [3, 0, 6, 6, 1]
    forward = TorchForward(policy.network, len(lanes), device)
    forward.load(population)
    for lane, network in enumerate(lanes):
        forward.assign(lane, network)
    inputs = rng.normal(size=(len(lanes), policy.layer_sizes[0]))
    outputs, hidden = forward(inputs)
    state = inputs[:, policy.obs_dim :].copy()
    expected = policy.batched_outputs(population[lanes], inputs[:, : policy.obs_dim], state)
    np.testing.assert_allclose(outputs, expected, rtol=RTOL, atol=ATOL)
    if policy.state_dim:
        np.testing.assert_allclose(hidden, state, rtol=RTOL, atol=ATOL)
    else:
        assert hidden is None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("env_id, policy_class, n_lanes", [("CartPole-v1", MlpPolicy, 3), ("Pendulum-v1", RecurrentPolicy, 2)])
def test_episodes_match_the_numba_forward(device, env_id, policy_class, n_lanes):
    env = make_vec_env(env_id, n_envs=n_lanes)
    policy = policy_class(env.observation_space, env.action_space)
    params = np.random.default_rng(1).uniform(-1, 1, size=(5, policy.num_params))
    seeds = np.random.default_rng(2).integers(0, 2**31 - 1, size=(5, 2))
    stats = (np.full(policy.obs_dim, 0.1), np.full(policy.obs_dim, 0.8))
    numba = evaluate_networks(env, policy, params, seeds, stats)
    torch = evaluate_networks(env, policy, params, seeds, stats, torch_forward=TorchForward(policy.network, n_lanes, device))
    # Actions are equal unless two outputs tie to 1e-12 (or a Box action sits on a float32 rounding boundary):
    # on these episodes they never do, and every step is the same.
    np.testing.assert_array_equal(torch.lengths, numba.lengths)
    np.testing.assert_allclose(torch.returns, numba.returns, rtol=1e-9)
    np.testing.assert_allclose(torch.obs_sum, numba.obs_sum, rtol=1e-12)
    assert torch.obs_count == numba.obs_count


@pytest.mark.parametrize("device", DEVICES)
def test_training_with_the_torch_forward(device):
    runs = {}
    for batched_forward in ("numba", "torch"):
        model = CoSyNE(
            "MlpPolicy", "CartPole-v1", pop_size=12, init_scale=10.0, normalize_obs=True, seed=0,
            batched_forward=batched_forward, device=device,
        )  # fmt: skip
        model.learn(30_000)
        runs[batched_forward] = model
    torch_model = runs["torch"]
    assert torch_model._torch_forward is not None and torch_model._compiled_rollout is None
    assert torch_model.best_fitness >= 400
    # Same episodes, same selection: the runs coincide (to rounding of the returns).
    np.testing.assert_allclose(torch_model.strategy.population, runs["numba"].strategy.population, rtol=1e-9)
    assert torch_model.num_timesteps == runs["numba"].num_timesteps


def test_auto_chooses_torch_only_for_many_lanes_times_parameters_on_cuda(monkeypatch):
    cuda, cpu = th.device("cuda"), th.device("cpu")
    for lanes in (1, 8, 40):
        assert use_torch_forward("auto", cuda, TORCH_MIN_LANE_PARAMS // lanes, lanes)
        assert not use_torch_forward("auto", cuda, TORCH_MIN_LANE_PARAMS // lanes - 1, lanes)
    assert not use_torch_forward("auto", cpu, 10 * TORCH_MIN_LANE_PARAMS, 8)
    assert use_torch_forward("torch", cpu, 10, 1)
    assert not use_torch_forward("numba", cuda, 10 * TORCH_MIN_LANE_PARAMS, 8)
    env = make_vec_env("CartPole-v1", n_envs=8)
    model = CoSyNE("MlpPolicy", env, pop_size=8, policy_kwargs=dict(net_arch=[400, 250]), device="cpu")
    assert env.num_envs * model.policy.num_params >= TORCH_MIN_LANE_PARAMS
    asked = []

    def recorded(*args):
        asked.append(args)
        return use_torch_forward(*args)

    monkeypatch.setattr(cosyne_module, "use_torch_forward", recorded)
    model.learn(1)
    assert asked == [("auto", th.device("cpu"), model.policy.num_params, 8)]
    assert model._torch_forward is None and model._compiled_rollout is not None


def test_unknown_batched_forward_is_named():
    with pytest.raises(ValueError, match="batched_forward must be 'auto', 'numba' or 'torch', got 'jax'"):
        CoSyNE("MlpPolicy", "CartPole-v1", batched_forward="jax")


def test_batched_forward_is_saved(tmp_path):
    CoSyNE("MlpPolicy", "CartPole-v1", batched_forward="torch").save(tmp_path / "model")
    assert CoSyNE.load(tmp_path / "model").batched_forward == "torch"
