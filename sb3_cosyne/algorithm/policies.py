"""CoSyNE's policy networks: small torch MLPs whose parameters map one-to-one onto synapse subpopulations."""

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from torch import nn

from sb3_cosyne.envs.mirrors import MIRRORS
from sb3_cosyne.networks.forward import mlp_forward
from sb3_cosyne.networks.spaces import check_spaces, outputs_to_actions, preprocess_obs
from sb3_cosyne.networks.spec import NetworkSpec
from sb3_cosyne.networks.symmetry import Mirror, ParameterTie, mirror_tie
from sb3_cosyne.networks.torch_forward import activation_code


class CoSyNEPolicy(BasePolicy):
    """
    Feed-forward policy whose parameters are evolved by CoSyNE; it holds the best network found so far.

    Parameters are float64 so that the batched Numba forward used in training and this torch network
    compute the same actions. Box actions are squashed with ``tanh`` and rescaled to the action bounds;
    Discrete and MultiDiscrete actions are the argmax of their outputs; MultiBinary actions are 1 where
    the output is positive. ``predict`` ignores ``deterministic``: the policy is deterministic.

    :param observation_space: the observation space
    :param action_space: the action space
    :param net_arch: units of each hidden layer
    :param activation_fn: hidden activation (``nn.Tanh``, ``nn.ReLU``, ``nn.ELU``, ``nn.Sigmoid`` or ``nn.Identity``)
    :param with_bias: whether neurons have a bias
    :param normalize_obs: whether Box observations are normalised by the running statistics stored in the policy
    :param normalize_images: kept for SB3's ``BasePolicy.save`` and ``load``, which pass it to every policy; CoSyNE's
        networks read image observations as they are
    :param mirror: a left-right symmetry of the task that the network keeps by construction (its parameters tied
        in mirror pairs, so CoSyNE evolves about half as many): a :class:`~sb3_cosyne.networks.symmetry.Mirror`,
        a dict of its fields, or the id of an env with a known mirror (``sb3_cosyne.envs.MIRRORS``); None for none.
        With ``normalize_obs`` it holds as far as the running statistics are symmetric.
    """

    #: hidden layers when ``net_arch`` is None
    default_net_arch: tuple[int, ...] = (8,)
    #: whether the single hidden layer is fully recurrent
    recurrent = False

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        with_bias: bool = True,
        normalize_obs: bool = False,
        normalize_images: bool = True,
        mirror: Mirror | dict[str, Any] | str | None = None,
    ) -> None:
        check_spaces(observation_space, action_space)
        super().__init__(observation_space, action_space, squash_output=False, normalize_images=normalize_images)
        self.net_arch = list(self.default_net_arch if net_arch is None else net_arch)
        if any(isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1 for units in self.net_arch):
            raise ValueError(f"net_arch must be a list of positive ints, got {net_arch!r}")
        self.activation_fn = activation_fn
        self.with_bias = bool(with_bias)
        self.normalize_obs = bool(normalize_obs)
        #: the architecture, as the kernels and evaluators take it
        self.network = NetworkSpec(
            observation_space,
            action_space,
            hidden=tuple(int(units) for units in self.net_arch),
            with_bias=self.with_bias,
            activation_code=activation_code(activation_fn),
            recurrent=self.recurrent,
        )
        self.mirror = mirror
        #: the ties between the network's parameters (None: every parameter is free)
        self.tie: ParameterTie | None = None if mirror is None else mirror_tie(self.network, _as_mirror(mirror))

        layers: list[nn.Module] = []
        for layer, (n_in, n_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:], strict=True)):
            layers.append(nn.Linear(int(n_in), int(n_out), bias=self.with_bias, dtype=th.float64))
            if layer < len(self.layer_sizes) - 2:
                layers.append(activation_fn())
        self.net = nn.Sequential(*layers)
        obs_shape = (self.obs_dim,)
        # Statistics of the observations the champion was evaluated with: saved and restored with it.
        self.register_buffer("obs_mean", th.zeros(obs_shape, dtype=th.float64))
        self.register_buffer("obs_std", th.ones(obs_shape, dtype=th.float64))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            with_bias=self.with_bias,
            normalize_obs=self.normalize_obs,
            mirror=self.mirror,
        )
        return data

    @property
    def linear_layers(self) -> list[nn.Linear]:
        """The network's linear layers, inputs first."""
        return [module for module in self.net if isinstance(module, nn.Linear)]

    @property
    def layer_sizes(self) -> np.ndarray:
        """Units per layer, inputs (observation, then recurrent state) first and outputs last."""
        return self.network.layer_sizes

    @property
    def activation_code(self) -> int:
        """The Numba forward's code of the hidden activation."""
        return self.network.activation_code

    @property
    def obs_dim(self) -> int:
        """Number of network inputs an observation makes."""
        return self.network.obs_dim

    @property
    def state_dim(self) -> int:
        """Units whose activations are fed back as inputs at the next step (0: feed-forward)."""
        return self.network.state_dim

    @property
    def num_params(self) -> int:
        """Number of evolved parameters (one synapse subpopulation each)."""
        return self.network.num_params

    @property
    def segments(self) -> np.ndarray:
        """Boundaries of the chromosome's neuron segments (each neuron's weights and bias), for crossover."""
        return self.network.segments

    @property
    def num_free_params(self) -> int:
        """Number of free parameters, which CoSyNE evolves: :attr:`num_params` unless a mirror ties them."""
        return self.num_params if self.tie is None else self.tie.num_free

    @property
    def free_segments(self) -> np.ndarray:
        """Boundaries of the free chromosome's neuron segments, for crossover."""
        return self.segments if self.tie is None else self.tie.segments

    def expand(self, free: np.ndarray) -> np.ndarray:
        """
        The network parameters (chromosomes) of free parameter vectors: themselves unless a mirror ties them.

        :param free: shape ``(..., num_free_params)``
        :return: shape ``(..., num_params)``
        """
        return free if self.tie is None else self.tie.expand(free)

    def get_flat_params(self) -> np.ndarray:
        """The network's parameters as one chromosome: neuron after neuron, weights then bias."""
        blocks = []
        for linear in self.linear_layers:
            block = linear.weight.detach().cpu().numpy()
            if self.with_bias:
                block = np.hstack([block, linear.bias.detach().cpu().numpy()[:, None]])
            blocks.append(block.ravel())
        return np.concatenate(blocks)

    def set_flat_params(self, params: np.ndarray) -> None:
        """
        Load a chromosome (see :meth:`get_flat_params`) into the network.

        :param params: parameter vector of length :attr:`num_params`
        """
        params = np.asarray(params, dtype=np.float64)
        if params.shape != (self.num_params,):
            raise ValueError(f"expected {self.num_params} parameters, got shape {params.shape}")
        offset = 0
        with th.no_grad():
            for linear in self.linear_layers:
                n_out, n_in = linear.weight.shape
                stride = n_in + int(self.with_bias)
                block = params[offset : offset + n_out * stride].reshape(n_out, stride)
                linear.weight.copy_(th.as_tensor(block[:, :n_in]))
                if self.with_bias:
                    linear.bias.copy_(th.as_tensor(block[:, n_in]))
                offset += n_out * stride

    def load_from_vector(self, vector: np.ndarray) -> None:
        """
        Load the parameters from a vector of :meth:`parameters_to_vector` (SB3's order, not the chromosome's), in
        float64: SB3's version casts to float32, which would change the network.

        :param vector: the parameters
        """
        th.nn.utils.vector_to_parameters(th.as_tensor(vector, dtype=th.float64, device=self.device), self.parameters())

    def set_obs_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Store the observation statistics the current network was evaluated with."""
        self.obs_mean.copy_(th.as_tensor(np.asarray(mean, dtype=np.float64).reshape(-1)))
        self.obs_std.copy_(th.as_tensor(np.asarray(std, dtype=np.float64).reshape(-1)))

    def obs_stats(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The normalisation statistics to apply, or ``(None, None)`` without normalisation."""
        if not self.normalize_obs:
            return None, None
        return self.obs_mean.cpu().numpy(), self.obs_std.cpu().numpy()

    def initial_state(self, n: int) -> np.ndarray:
        """
        The network state at the start of an episode.

        :param n: number of lanes
        :return: zeros of shape ``(n, state_dim)`` (zero columns for a feed-forward network)
        """
        return np.zeros((n, self.state_dim))

    def batched_outputs(self, params: np.ndarray, inputs: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        """
        Network outputs for many lanes at once, each with its own parameters, with the Numba forward.

        :param params: one chromosome per lane, shape ``(lanes, num_params)``
        :param inputs: preprocessed observations, shape ``(lanes, obs_dim)``
        :param state: each lane's network state (see :meth:`initial_state`), updated in place
        :return: outputs, shape ``(lanes, output_dim)``
        """
        if state is None:
            state = self.initial_state(inputs.shape[0])
        if self.state_dim:
            inputs = np.hstack([inputs, state])
        return mlp_forward(params, inputs, self.layer_sizes, self.with_bias, self.activation_code, state)

    def act(self, observation: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """
        Actions of the torch network for a batch of observations.

        :param observation: observations, shape ``(batch, *observation_space.shape)``
        :param state: network state of each, shape ``(batch, state_dim)``
        :return: the actions and the next network state
        """
        mean, std = self.obs_stats()
        inputs = preprocess_obs(observation, self.observation_space, mean, std)
        x = th.as_tensor(np.hstack([inputs, state]) if self.state_dim else inputs, device=self.device)
        with th.no_grad():
            for module in self.net:
                x = module(x)
                if isinstance(module, self.activation_fn):
                    hidden = x
        next_state = hidden.cpu().numpy() if self.state_dim else state
        return outputs_to_actions(x.cpu().numpy(), self.action_space), next_state

    def forward(self, obs: th.Tensor, deterministic: bool = True) -> th.Tensor:
        return self._predict(obs, deterministic)

    def _predict(self, observation: th.Tensor, deterministic: bool = True) -> th.Tensor:
        observation = observation.cpu().numpy()
        actions, _ = self.act(observation, self.initial_state(observation.shape[0]))
        return th.as_tensor(actions)


class CoSyNELinearPolicy(CoSyNEPolicy):
    """
    Linear policy (no hidden layer) evolved by CoSyNE; see :class:`CoSyNEPolicy` for the parameters.

    ``net_arch`` only changes the default: a ``net_arch`` in ``policy_kwargs`` still adds hidden layers (rl_zoo3's
    Optuna sampler tries them on linear entries), so switching a tuned entry to this policy means dropping its
    ``net_arch`` too.
    """

    default_net_arch = ()


class CoSyNERecurrentPolicy(CoSyNEPolicy):
    """
    Recurrent policy evolved by CoSyNE: one fully recurrent hidden layer (each unit sees the observation and
    every unit's previous activation) and a linear output layer, as the paper's networks for the tasks
    without velocities. Each hidden neuron's chromosome segment holds its input weights, its recurrent
    weights, then its bias.

    ``predict(obs, state, episode_start)`` follows SB3's recurrent convention: pass back the returned state,
    and ``episode_start`` (True where an episode begins) resets it. See :class:`CoSyNEPolicy` for the parameters;
    ``net_arch`` is the single recurrent layer, 5 units by default.
    """

    default_net_arch = (5,)
    recurrent = True

    def predict(
        self,
        observation: np.ndarray,
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """
        Actions for observations, carrying the network state from call to call.

        :param observation: an observation or a batch of them
        :param state: the state returned by the previous call (None at the start)
        :param episode_start: True for each observation that begins an episode (its state is reset)
        :param deterministic: ignored, the policy is deterministic
        :return: the actions and the next state, shape ``(batch, units)``
        """
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        obs = obs_tensor.cpu().numpy()
        n = obs.shape[0]
        state = self.initial_state(n) if state is None else np.array(state, dtype=np.float64).reshape(n, self.state_dim)
        if episode_start is not None:
            state[np.asarray(episode_start, dtype=bool).reshape(n)] = 0.0
        actions, state = self.act(obs, state)
        actions = actions.reshape((-1, *self.action_space.shape))
        return (actions if vectorized else actions.squeeze(axis=0)), state


def _as_mirror(mirror: Mirror | dict[str, Any] | str) -> Mirror:
    """The :class:`Mirror` that ``policy_kwargs``' ``mirror`` names."""
    if isinstance(mirror, Mirror):
        return mirror
    if isinstance(mirror, dict):
        return Mirror(**mirror)
    if isinstance(mirror, str) and mirror in MIRRORS:
        return Mirror(**MIRRORS[mirror])
    raise ValueError(
        f"mirror must be a Mirror, a dict of its fields or one of the envs with a known mirror {sorted(MIRRORS)}, "
        f"got {mirror!r}"
    )


MlpPolicy = CoSyNEPolicy
LinearPolicy = CoSyNELinearPolicy
RecurrentPolicy = CoSyNERecurrentPolicy

__all__ = [
    "CoSyNELinearPolicy",
    "CoSyNEPolicy",
    "CoSyNERecurrentPolicy",
    "LinearPolicy",
    "MlpPolicy",
    "RecurrentPolicy",
]
