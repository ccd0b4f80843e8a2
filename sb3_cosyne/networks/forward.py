"""Batched Numba forward pass of the policy network: one call computes every lane's outputs, each lane
with its own parameter vector (a column of the population matrix). A recurrent network is the same
perceptron fed its previous hidden activations beside the observation.

The parameter layout is the paper's chromosome: the network's neurons one after the other, layer by
layer, each neuron as its incoming weights followed by its bias.
"""

import numpy as np
from numba import njit

from sb3_cosyne.networks.activations import activate


@njit(cache=True, inline="always")
def widest_layer(layer_sizes: np.ndarray) -> int:
    """``layer_sizes.max()`` (the work buffers' width), in a loop: Numba's ``max`` of an array takes most of a second
    to compile."""
    widest = 0
    for size in layer_sizes:
        widest = max(widest, size)
    return widest


@njit(cache=True, inline="always")
def _layer(layer_sizes: np.ndarray, layer: int, with_bias: bool) -> tuple[int, int, int]:
    """A layer's inputs and outputs, and the chromosome length of each of its neurons."""
    n_in, n_out = layer_sizes[layer], layer_sizes[layer + 1]
    return n_in, n_out, n_in + 1 if with_bias else n_in


# Inlined where it is called: passing arrays to a call costs atomic reference counting, at every step of a rollout.
@njit(cache=True, inline="always")
def lane_forward(
    params: np.ndarray,
    work: np.ndarray,
    layer_sizes: np.ndarray,
    with_bias: bool,
    activation: int,
    last_hidden: np.ndarray,
) -> None:
    """
    One network's forward pass in place, allocating nothing (the compiled rollouts call it at every step).

    :param params: the network's parameter vector, in the chromosome layout
    :param work: shape ``(2, layer_sizes.max())``; row 0 holds the inputs (first ``layer_sizes[0]`` entries) on
        entry and the outputs (first ``layer_sizes[-1]``) on return, row 1 is scratch
    :param layer_sizes: units per layer, inputs first and outputs last
    :param with_bias: whether every neuron has a bias after its weights
    :param activation: code of the hidden activation (see :mod:`~sb3_cosyne.networks.activations`); the output layer is linear
    :param last_hidden: receives the last hidden layer's activations (the state of a recurrent network); length 0
        when they are not needed
    """
    n_layers = layer_sizes.shape[0] - 1
    offset = 0
    for layer in range(n_layers):
        n_in, n_out, stride = _layer(layer_sizes, layer, with_bias)
        for k in range(n_out):
            start = offset + k * stride
            total = params[start + n_in] if with_bias else 0.0
            for i in range(n_in):
                total += params[start + i] * work[0, i]
            work[1, k] = total
        offset += n_out * stride
        hidden_layer = layer < n_layers - 1
        # activations in a loop of their own, over the units, which vectorises
        for k in range(n_out):
            work[0, k] = activate(work[1, k], activation) if hidden_layer else work[1, k]
        if layer == n_layers - 2:
            for k in range(last_hidden.shape[0]):
                last_hidden[k] = work[0, k]


@njit(cache=True, inline="always")
def lanes_forward(
    weights: np.ndarray,
    n: int,
    values: np.ndarray,
    scratch: np.ndarray,
    layer_sizes: np.ndarray,
    with_bias: bool,
    activation: int,
    last_hidden: np.ndarray,
) -> None:
    """
    The forward passes of the first ``n`` lanes' networks at once, in loops over lanes that compile to vector
    instructions; each lane's arithmetic is :func:`lane_forward`'s, in the same order, so are its outputs.

    :param weights: each lane's chromosome as a column, shape ``(n_params, lanes)``
    :param values: shape ``(layer_sizes.max(), lanes)``; each lane's inputs (first ``layer_sizes[0]`` rows) on
        entry, its outputs (first ``layer_sizes[-1]`` rows) on return
    :param scratch: work buffer, the shape of ``values``
    :param layer_sizes: units per layer, inputs first and outputs last
    :param with_bias: whether every neuron has a bias after its weights
    :param activation: code of the hidden activation (see :mod:`~sb3_cosyne.networks.activations`); the output layer is linear
    :param last_hidden: receives each lane's last hidden activations (the state of a recurrent network), shape
        ``(state_dim, lanes)``; no rows when they are not needed
    """
    n_layers = layer_sizes.shape[0] - 1
    start = 0  # of the neuron's genes in the chromosome
    for layer in range(n_layers):
        n_in, n_out, stride = _layer(layer_sizes, layer, with_bias)
        for k in range(n_out):
            for lane in range(n):
                scratch[k, lane] = weights[start + n_in, lane] if with_bias else 0.0
            for i in range(n_in):
                for lane in range(n):
                    scratch[k, lane] += weights[start + i, lane] * values[i, lane]
            if layer < n_layers - 1:
                for lane in range(n):
                    scratch[k, lane] = activate(scratch[k, lane], activation)
            start += stride
        for k in range(n_out):
            for lane in range(n):
                values[k, lane] = scratch[k, lane]
        if layer == n_layers - 2:
            for k in range(last_hidden.shape[0]):
                for lane in range(n):
                    last_hidden[k, lane] = values[k, lane]


@njit(cache=True, error_model="numpy")
def mlp_forward(
    params: np.ndarray,
    inputs: np.ndarray,
    layer_sizes: np.ndarray,
    with_bias: bool,
    activation: int,
    last_hidden: np.ndarray,
) -> np.ndarray:
    """
    Outputs of a multilayer perceptron for a batch of lanes, each with its own parameters.

    :param params: one parameter vector per lane, shape ``(lanes, n)``, in the chromosome layout
    :param inputs: one input vector per lane, shape ``(lanes, layer_sizes[0])``
    :param layer_sizes: units per layer, inputs first and outputs last
    :param with_bias: whether every neuron has a bias after its weights
    :param activation: code of the hidden activation (see :mod:`~sb3_cosyne.networks.activations`); the output layer is linear
    :param last_hidden: shape ``(lanes, layer_sizes[-2])`` to receive the last hidden layer's activations (the
        state of a recurrent network), or ``(lanes, 0)`` when they are not needed
    :return: outputs, shape ``(lanes, layer_sizes[-1])``
    """
    lanes = params.shape[0]
    outputs = np.empty((lanes, layer_sizes[-1]))
    work = np.empty((2, widest_layer(layer_sizes)))
    for b in range(lanes):
        for i in range(layer_sizes[0]):
            work[0, i] = inputs[b, i]
        lane_forward(params[b], work, layer_sizes, with_bias, activation, last_hidden[b])
        for k in range(layer_sizes[-1]):
            outputs[b, k] = work[0, k]
    return outputs
