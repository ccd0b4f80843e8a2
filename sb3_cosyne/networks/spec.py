"""What a CoSyNE network is, as the kernels, rollouts and evaluators see it: no torch module, no SB3 policy."""

from dataclasses import dataclass, field

import numpy as np
from gymnasium import spaces

from sb3_cosyne.networks.spaces import check_spaces, input_dim, output_dim


@dataclass(frozen=True, eq=False)
class NetworkSpec:
    """
    The architecture of a CoSyNE network, whose parameters are one chromosome in the paper's layout: the neurons
    one after the other, layer by layer, each as its incoming weights followed by its bias.

    :param observation_space: the observations the network reads
    :param action_space: the actions its outputs become
    :param hidden: units of each hidden layer
    :param with_bias: whether every neuron has a bias
    :param activation_code: the hidden activation (a code of :mod:`~sb3_cosyne.networks.activations`)
    :param recurrent: whether the single hidden layer is fully recurrent: it sees its own previous activations
        beside the observation
    """

    observation_space: spaces.Space
    action_space: spaces.Space
    hidden: tuple[int, ...]
    with_bias: bool
    activation_code: int
    recurrent: bool = False
    #: units per layer, inputs (observation, then recurrent state) first and outputs last
    layer_sizes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_spaces(self.observation_space, self.action_space)
        if self.recurrent and len(self.hidden) != 1:
            raise ValueError(
                f"RecurrentPolicy has exactly one recurrent layer: net_arch must have one entry, got {list(self.hidden)!r}"
            )
        inputs = self.obs_dim + self.state_dim
        layer_sizes = np.array([inputs, *self.hidden, output_dim(self.action_space)], dtype=np.int64)
        object.__setattr__(self, "layer_sizes", layer_sizes)

    @property
    def obs_dim(self) -> int:
        """Number of network inputs an observation makes."""
        return input_dim(self.observation_space)

    @property
    def state_dim(self) -> int:
        """Units whose activations are fed back as inputs at the next step (0: feed-forward)."""
        return int(self.hidden[0]) if self.recurrent else 0

    @property
    def num_params(self) -> int:
        """Number of parameters (one synapse subpopulation each)."""
        return int(self.segments[-1])

    @property
    def segments(self) -> np.ndarray:
        """Boundaries of the chromosome's neuron segments (each neuron's weights and bias), for crossover."""
        stride = self.layer_sizes[:-1] + int(self.with_bias)
        lengths = np.repeat(stride, self.layer_sizes[1:])
        return np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)

    def layer_blocks(self) -> list[tuple[int, int, int]]:
        """``(start, n_out, n_in)`` of each layer's block of the chromosome, inputs first."""
        blocks, start = [], 0
        for n_in, n_out in zip(self.layer_sizes[:-1].tolist(), self.layer_sizes[1:].tolist(), strict=True):
            blocks.append((start, n_out, n_in))
            start += n_out * (n_in + int(self.with_bias))
        return blocks
