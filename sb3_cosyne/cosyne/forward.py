"""Batched Numba forward pass of the policy network: one call computes every lane's outputs, each lane
with its own parameter vector (a column of the population matrix). A recurrent network is the same
perceptron fed its previous hidden activations beside the observation.

The parameter layout is the paper's chromosome: the network's neurons one after the other, layer by
layer, each neuron as its incoming weights followed by its bias.
"""

import numpy as np
from numba import njit
from torch import nn

#: Hidden-layer activations the Numba forward implements, by torch module class.
ACTIVATIONS = {nn.Tanh: 0, nn.ReLU: 1, nn.Identity: 2, nn.ELU: 3, nn.Sigmoid: 4}


def activation_code(activation_fn: type[nn.Module]) -> int:
    """
    The Numba forward's code for a torch activation class.

    :raises ValueError: for an activation the Numba forward does not implement
    """
    if activation_fn not in ACTIVATIONS:
        supported = ", ".join(f"nn.{cls.__name__}" for cls in ACTIVATIONS)
        raise ValueError(
            f"activation_fn {activation_fn!r} is not supported by CoSyNE's batched forward; use one of {supported}"
        )
    return ACTIVATIONS[activation_fn]


@njit(cache=True)
def _activate(value: float, code: int) -> float:
    if code == 0:
        return np.tanh(value)
    if code == 1:
        return max(value, 0.0)
    if code == 3:
        return value if value > 0.0 else np.expm1(value)
    if code == 4:
        return 1.0 / (1.0 + np.exp(-value))
    return value


@njit(cache=True)
def forward_row(
    params: np.ndarray,
    h: np.ndarray,
    nxt: np.ndarray,
    layer_sizes: np.ndarray,
    with_bias: bool,
    activation: int,
    last_hidden: np.ndarray,
) -> None:
    """
    One network's forward pass, in place.

    :param params: the network's chromosome, shape ``(n,)``
    :param h: work buffer of ``layer_sizes.max()`` entries: the inputs on entry, the outputs (first
        ``layer_sizes[-1]`` entries) on return
    :param nxt: work buffer of the same size
    :param layer_sizes: units per layer, inputs first and outputs last
    :param with_bias: whether every neuron has a bias after its weights
    :param activation: code of the hidden activation (see :data:`ACTIVATIONS`); the output layer is linear
    :param last_hidden: receives the last hidden layer's activations, shape ``(layer_sizes[-2],)``, or ``(0,)``
    """
    n_layers = layer_sizes.shape[0] - 1
    offset = 0
    for layer in range(n_layers):
        n_in, n_out = layer_sizes[layer], layer_sizes[layer + 1]
        stride = n_in + 1 if with_bias else n_in
        for k in range(n_out):
            start = offset + k * stride
            total = params[start + n_in] if with_bias else 0.0
            for i in range(n_in):
                total += params[start + i] * h[i]
            nxt[k] = total if layer == n_layers - 1 else _activate(total, activation)
        offset += n_out * stride
        for k in range(n_out):
            h[k] = nxt[k]
        if layer == n_layers - 2:
            for k in range(last_hidden.shape[0]):
                last_hidden[k] = h[k]


@njit(cache=True)
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
    :param activation: code of the hidden activation (see :data:`ACTIVATIONS`); the output layer is linear
    :param last_hidden: shape ``(lanes, layer_sizes[-2])`` to receive the last hidden layer's activations (the
        state of a recurrent network), or ``(lanes, 0)`` when they are not needed
    :return: outputs, shape ``(lanes, layer_sizes[-1])``
    """
    lanes = params.shape[0]
    outputs = np.empty((lanes, layer_sizes[-1]))
    width = layer_sizes.max()
    h = np.empty(width)
    nxt = np.empty(width)
    for b in range(lanes):
        for i in range(layer_sizes[0]):
            h[i] = inputs[b, i]
        forward_row(params[b], h, nxt, layer_sizes, with_bias, activation, last_hidden[b])
        for k in range(layer_sizes[-1]):
            outputs[b, k] = h[k]
    return outputs
