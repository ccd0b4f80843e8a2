"""The Numba side of a batched step on the lanes of a VecEnv: record what every busy lane's env returned, then
compute every busy lane's next network outputs, in one call.

The arithmetic is exactly that of :func:`~sb3_cosyne.networks.spaces.preprocess_obs`, ``normalize`` and
``outputs_to_actions`` (numpy's), so that returns and observation statistics are those of the plain numpy
formulation, bit for bit (``tanh`` of Box actions is :func:`~sb3_cosyne.networks.activations.tanh` in both). A call
unboxes every argument anew, so the arguments are few arrays with named columns, grouped in named tuples.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numba import njit, typeof
from numba.core.dispatcher import Dispatcher

from sb3_cosyne.networks.forward import lane_forward, widest_layer
from sb3_cosyne.networks.spaces import OBS_CLIP, box_actions

#: how a lane's last step ended (``lane_info[:, ENDED]``): still running, over, ended by a non-finite value, or cut
#: at the episode cap
RUNNING, DONE, INVALID, CUT = 0, 1, 2, 3
#: columns of ``lane_info`` (int64): the episode a lane runs (``network * n_episodes + episode``, -1: idle), how its
#: last step ended, and its Discrete action (the argmax of its outputs plus the space's start)
JOB, ENDED, ACTION = range(3)
#: columns of ``lane_out`` (float64): the reward of a lane's last step, whether its episode is over, and the return
#: and length of its episode so far
REWARD, OVER, RETURN, LENGTH = range(4)
#: rows of ``stats``: normalisation mean and std, the sums (and sums of squares) of the observations whose step was
#: taken, and those of the observations the last call read
MEAN, STD, SUM, SQ_SUM, NEXT_SUM, NEXT_SQ_SUM = range(6)


class Lanes(NamedTuple):
    """What the kernel reads and writes about every lane."""

    #: per lane, the columns ``JOB``, ``ENDED``, ``ACTION`` (int64)
    info: np.ndarray
    #: per lane, the columns ``REWARD``, ``OVER``, ``RETURN``, ``LENGTH`` (float64)
    out: np.ndarray
    #: per lane, its network inputs before normalisation: its new observation, flattened, or its one-hot encoding
    #: (always finite, as is the integer observation it encodes)
    inputs: np.ndarray
    #: per lane, its network's chromosome followed by its recurrent state (updated in place)
    nets: np.ndarray
    #: normalisation statistics and sums (rows ``MEAN`` to ``NEXT_SQ_SUM``)
    stats: np.ndarray
    #: whether to normalise the inputs and gather their statistics
    normalize: bool
    #: the episode cap: an episode this long that has not ended is cut (``inf``: none)
    max_length: float


class LaneNetworks(NamedTuple):
    """The networks' architecture, and where they run."""

    #: units per layer
    layer_sizes: np.ndarray
    #: whether the neurons have biases
    with_bias: bool
    #: code of the hidden activation
    activation: int
    #: whether the kernel runs the networks; if not, the outputs receive the networks' inputs (normalised
    #: observation, then recurrent state) for a forward pass elsewhere
    run_here: bool


class LaneOutputs(NamedTuple):
    """Where the kernel writes every lane's outputs, and how it makes actions of them."""

    #: every lane's outputs (zeros for idle lanes), or its network inputs when the networks run elsewhere
    outputs: np.ndarray
    #: the start of a Discrete action space (0 otherwise), added to the argmax in ``info[:, ACTION]``
    action_start: int
    #: a float Box action space's bounds as :func:`~sb3_cosyne.networks.spaces.box_actions` takes them; with no
    #: columns (other spaces), no Box actions are computed
    bounds: np.ndarray


@njit(cache=True)
def pairwise_sum(values: np.ndarray) -> float:
    """
    The sum of ``values`` in the order numpy's pairwise summation adds them (``np.add.reduce`` along a
    contiguous axis): blocks of up to 128 values summed by eight interleaved partial sums, halves beyond.
    """
    n = values.shape[0]
    if n < 8:
        total = 0.0
        for i in range(n):
            total += values[i]
        return total
    if n <= 128:
        partial = values[:8].copy()
        i = 8
        while i < n - n % 8:
            for j in range(8):
                partial[j] += values[i + j]
            i += 8
        left = (partial[0] + partial[1]) + (partial[2] + partial[3])
        total = left + ((partial[4] + partial[5]) + (partial[6] + partial[7]))
        while i < n:
            total += values[i]
            i += 1
        return total
    half = n // 2
    half -= half % 8
    return pairwise_sum(values[:half]) + pairwise_sum(values[half:])


@njit(cache=True)
def batch_statistics(lane_info: np.ndarray, inputs: np.ndarray, stats: np.ndarray) -> None:
    """
    The sums (and sums of squares) of the busy lanes' inputs into the ``NEXT`` rows of ``stats``, added as
    numpy's ``inputs[busy].sum(axis=0)`` adds them: lane after lane, or pairwise when there is a single input.
    """
    n_inputs = inputs.shape[1]
    if n_inputs == 1:
        column = np.empty(lane_info.shape[0])
        n = 0
        for lane in range(lane_info.shape[0]):
            if lane_info[lane, JOB] >= 0:
                column[n] = inputs[lane, 0]
                n += 1
        stats[NEXT_SUM, 0] = pairwise_sum(column[:n])
        for k in range(n):
            column[k] = column[k] * column[k]
        stats[NEXT_SQ_SUM, 0] = pairwise_sum(column[:n])
        return
    first = True
    for lane in range(lane_info.shape[0]):
        if lane_info[lane, JOB] < 0:
            continue
        for i in range(n_inputs):
            value = np.float64(inputs[lane, i])
            if first:
                stats[NEXT_SUM, i] = value
                stats[NEXT_SQ_SUM, i] = value * value
            else:
                stats[NEXT_SUM, i] += value
                stats[NEXT_SQ_SUM, i] += value * value
        first = False


@njit(cache=True, error_model="numpy")
def advance_lanes(record: bool, lanes: Lanes, networks: LaneNetworks, target: LaneOutputs, actions: np.ndarray) -> int:
    """
    One batched step of the busy lanes: record the step just taken, then, unless an episode ended, compute the
    next outputs (and Discrete or Box actions).

    :param record: whether a step was taken since the last call: add the statistics of the observations the last
        call read to the sums; add each busy lane's reward to its episode's return and length, and set its
        ``ENDED`` to ``DONE`` if its episode is over, ``INVALID`` if its reward or observation was non-finite (which
        ends it too, with a NaN return), ``CUT`` if it reached the episode cap, else ``RUNNING``
    :param lanes: every lane's state
    :param networks: the networks' architecture and where they run
    :param target: where the outputs go
    :param actions: receives every lane's Box action after a forward (``box_actions`` of the outputs); a new array
        at each call, since an env may keep the action it was given
    :return: the number of episodes that ended (the outputs are then not computed)
    """
    lane_info, lane_out, inputs, lane_nets, stats, normalize, max_length = lanes
    layer_sizes, with_bias, activation, forward = networks
    outputs, action_start, bounds = target
    if record and normalize:
        for i in range(stats.shape[1]):
            stats[SUM, i] += stats[NEXT_SUM, i]
            stats[SQ_SUM, i] += stats[NEXT_SQ_SUM, i]
    n_lanes = lane_info.shape[0]
    n_inputs = inputs.shape[1]
    if record:
        n_ended = 0
        for lane in range(n_lanes):
            if lane_info[lane, JOB] < 0:
                continue
            lane_out[lane, LENGTH] += 1.0
            reward = lane_out[lane, REWARD]
            finite = np.isfinite(reward)
            for i in range(n_inputs):
                finite = finite and np.isfinite(inputs[lane, i])
            ended = RUNNING
            if finite:
                lane_out[lane, RETURN] += reward
                if lane_out[lane, OVER] != 0.0:
                    ended = DONE
                elif lane_out[lane, LENGTH] >= max_length:
                    ended = CUT
            else:
                lane_out[lane, RETURN] = np.nan
                ended = INVALID
            lane_info[lane, ENDED] = ended
            n_ended += ended != RUNNING
        if n_ended:
            return n_ended

    if normalize:
        batch_statistics(lane_info, inputs, stats)
    n_params = lane_nets.shape[1] - (layer_sizes[0] - n_inputs)
    work = np.empty((2, widest_layer(layer_sizes)))
    h = work[0]
    for lane in range(n_lanes):
        if lane_info[lane, JOB] < 0:
            outputs[lane] = 0.0
            lane_info[lane, ACTION] = action_start
            continue
        for i in range(n_inputs):
            value = np.float64(inputs[lane, i])
            if normalize:
                # np.clip's bounds, letting NaN through as it does
                value = (value - stats[MEAN, i]) / stats[STD, i]
                if value < -OBS_CLIP:
                    value = -OBS_CLIP
                elif value > OBS_CLIP:
                    value = OBS_CLIP
            h[i] = value
        state = lane_nets[lane, n_params:]
        for i in range(state.shape[0]):
            h[n_inputs + i] = state[i]
        if not forward:
            # an element loop: a slice assignment costs seconds of compilation
            for k in range(outputs.shape[1]):
                outputs[lane, k] = h[k]
            continue
        lane_forward(lane_nets[lane, :n_params], work, layer_sizes, with_bias, activation, state)
        best = 0
        for k in range(outputs.shape[1]):
            outputs[lane, k] = h[k]
            # np.argmax: the first maximum, or the first NaN
            if k > 0 and not np.isnan(h[best]) and (np.isnan(h[k]) or h[k] > h[best]):
                best = k
        lane_info[lane, ACTION] = best + action_start
    if forward and bounds.shape[1]:
        # Here rather than in a call of its own: entering a compiled function costs more than the arithmetic.
        box_actions(outputs, bounds, actions)
    return 0


_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
#: the compiled functions :func:`direct_call` resolved, by kernel and argument types
_RESOLVED: dict[tuple, Callable[..., Any]] = {}


def _type_key(arg: Any) -> Any:
    """
    What Numba's type of ``arg`` depends on, read in a fraction of the time ``numba.typeof`` takes for arrays,
    bools, floats and the ints Numba types as int64; anything else is keyed by its Numba type.
    """
    if isinstance(arg, np.ndarray):
        flags = arg.flags
        return arg.dtype, arg.ndim, flags.c_contiguous, flags.f_contiguous, flags.writeable, flags.aligned
    if type(arg) in (bool, float) or (type(arg) is int and _INT64_MIN <= arg <= _INT64_MAX):
        return type(arg)
    return typeof(arg)


def direct_call(kernel: Dispatcher, *args: Any) -> Callable[..., Any]:
    """
    ``kernel`` compiled for the types of ``args``, to be called without the dispatcher: a dispatcher works out
    the types of every argument at every call, a third of the cost of entering a kernel with a dozen arguments.
    Resolved once per kernel and argument types (resolving takes about 80 µs).

    :param kernel: a Numba-compiled function
    :param args: arguments of the types every later call will pass (arrays: same dtype, dimensions and layout,
        which the compiled function does not check)
    :return: the compiled function for these types
    """
    key = (kernel, *(_type_key(arg) for arg in args))
    resolved = _RESOLVED.get(key)
    if resolved is None:
        resolved = _RESOLVED[key] = kernel.compile(tuple(typeof(arg) for arg in args))
    return resolved
