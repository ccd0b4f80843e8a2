"""The batched forward pass in torch, for large policies on a GPU: every lane's network at once, one batched
matrix product per layer, the population on the device.

It computes what the Numba forward computes, in float64, but sums in another order and uses torch's activation
functions: outputs agree to about 1e-12 relative (``tests/test_torch_forward.py``), not bit for bit, so runs with
it are reproducible on one machine and device but not identical to runs with the Numba forward.
"""

import numpy as np
import torch as th
from torch import nn

from sb3_cosyne.networks.activations import ELU, IDENTITY, RELU, SIGMOID, TANH
from sb3_cosyne.networks.spec import NetworkSpec

#: the torch modules of the hidden activations the Numba forward implements, by code
ACTIVATION_MODULES: dict[int, type[nn.Module]] = {
    TANH: nn.Tanh,
    RELU: nn.ReLU,
    IDENTITY: nn.Identity,
    ELU: nn.ELU,
    SIGMOID: nn.Sigmoid,
}

#: with ``batched_forward="auto"``, the torch forward runs on a CUDA device once lanes × parameters reach this: on an
#: H100 beside a Xeon core, it beat the Numba forward from 30,000-162,000 lanes × parameters and was about 4-5 times
#: as fast here (``benchmarks/forward_crossover.py``, README), a margin for CPUs that run the Numba forward faster
TORCH_MIN_LANE_PARAMS = 500_000


def activation_code(activation_fn: type[nn.Module]) -> int:
    """
    The Numba forward's code for a torch activation class.

    :raises ValueError: for an activation the Numba forward does not implement
    """
    codes = {module: code for code, module in ACTIVATION_MODULES.items()}
    if activation_fn not in codes:
        supported = ", ".join(f"nn.{cls.__name__}" for cls in codes)
        raise ValueError(
            f"activation_fn {activation_fn!r} is not supported by CoSyNE's batched forward; use one of {supported}"
        )
    return codes[activation_fn]


def use_torch_forward(batched_forward: str, device: th.device, num_params: int, num_lanes: int) -> bool:
    """
    Whether CoSyNE runs its batched forward in torch.

    :param batched_forward: ``"numba"``, ``"torch"``, or ``"auto"`` (torch on a CUDA device when ``num_lanes``
        times ``num_params`` is at least :data:`TORCH_MIN_LANE_PARAMS`, Numba otherwise)
    :param device: the policy's device
    :param num_params: the policy's number of parameters
    :param num_lanes: the number of lanes whose networks each batched forward runs
    """
    if batched_forward == "auto":
        return device.type == "cuda" and num_lanes * num_params >= TORCH_MIN_LANE_PARAMS
    return batched_forward == "torch"


class TorchForward:
    """
    Batched forward of many networks, each lane with its own parameters, on a torch device.

    :param network: the networks' architecture
    :param num_lanes: number of lanes
    :param device: the torch device
    """

    def __init__(self, network: NetworkSpec, num_lanes: int, device: th.device | str) -> None:
        self.device = th.device(device)
        self.activation = ACTIVATION_MODULES[network.activation_code]()
        self.with_bias = network.with_bias
        #: (start, n_out, n_in) of each layer's block in the chromosome
        self.layers = network.layer_blocks()
        self.recurrent = network.state_dim > 0
        self.population: list[tuple[th.Tensor, th.Tensor | None]] = []
        self.lanes = self._split(th.zeros((num_lanes, network.num_params), dtype=th.float64, device=self.device))

    def _split(self, params: th.Tensor) -> list[tuple[th.Tensor, th.Tensor | None]]:
        """Each layer's weights ``(n, n_out, n_in)`` and biases ``(n, n_out)`` (None without), contiguous."""
        blocks = []
        for start, n_out, n_in in self.layers:
            stride = n_in + int(self.with_bias)
            block = params[:, start : start + n_out * stride].reshape(-1, n_out, stride)
            bias = block[:, :, n_in].contiguous() if self.with_bias else None
            blocks.append((block[:, :, :n_in].contiguous(), bias))
        return blocks

    def load(self, params: np.ndarray) -> None:
        """
        Move the networks to evaluate to the device.

        :param params: one chromosome per network, shape ``(n_networks, num_params)``
        """
        self.population = self._split(th.as_tensor(params, dtype=th.float64, device=self.device))

    def assign(self, lane: int, network: int) -> None:
        """Give ``lane`` the parameters of the loaded ``network``."""
        for (weights, bias), (lane_weights, lane_bias) in zip(self.population, self.lanes, strict=True):
            lane_weights[lane] = weights[network]
            if bias is not None:
                lane_bias[lane] = bias[network]

    @th.no_grad()
    def __call__(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """
        Every lane's outputs.

        :param inputs: every lane's network inputs (normalised observation, then recurrent state), shape
            ``(num_lanes, n_in)``
        :return: the outputs ``(num_lanes, n_out)`` and, for a recurrent policy, the last hidden layer's activations
        """
        x = th.as_tensor(inputs, device=self.device).unsqueeze(-1)
        hidden = None
        last = len(self.lanes) - 1
        for layer, (weights, bias) in enumerate(self.lanes):
            x = th.bmm(weights, x) if bias is None else th.baddbmm(bias.unsqueeze(-1), weights, x)
            if layer < last:
                x = self.activation(x)
                hidden = x
        outputs = x.squeeze(-1).cpu().numpy()
        return outputs, (hidden.squeeze(-1).cpu().numpy() if self.recurrent else None)
