"""Mirror-symmetric networks: a task's left-right symmetry as ties between a network's parameters.

Many tasks look the same in a mirror: LunarLander's lander flipped left to right must fire its right engine where
it fired its left one. A network that respects the mirror by construction has about half the free parameters,
and CoSyNE evolves one subpopulation per free parameter only.
"""

from dataclasses import dataclass

import numpy as np

from sb3_cosyne.networks.spec import NetworkSpec


@dataclass(frozen=True)
class Mirror:
    """
    A mirror symmetry of a task: the mirrored observation is ``obs_sign * obs[obs_perm]``, and in it the policy
    should act ``action_sign * action[action_perm]`` where it acted ``action`` in the original. Each permutation
    must be its own inverse (a mirror seen in a mirror is the original), and each sign +1 or -1.

    :param obs_perm: which observation component each mirrored component is
    :param obs_sign: the sign each mirrored component takes (-1 for positions, velocities and angles that flip)
    :param action_perm: which action component (or, for discrete actions, which action) each mirrored one is
    :param action_sign: the sign each mirrored action component takes (all +1 for discrete actions)
    """

    obs_perm: tuple[int, ...]
    obs_sign: tuple[int, ...]
    action_perm: tuple[int, ...]
    action_sign: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("obs_perm", "obs_sign", "action_perm", "action_sign"):
            object.__setattr__(self, name, tuple(int(value) for value in getattr(self, name)))
        for kind in ("obs", "action"):
            perm, sign = getattr(self, f"{kind}_perm"), getattr(self, f"{kind}_sign")
            if len(perm) != len(sign):
                raise ValueError(f"{kind}_perm and {kind}_sign must have the same length, got {len(perm)} and {len(sign)}")
            if sorted(perm) != list(range(len(perm))) or any(perm[perm[i]] != i for i in range(len(perm))):
                raise ValueError(
                    f"{kind}_perm must be a permutation of 0..{len(perm) - 1} that is its own inverse, got {perm}"
                )
            if any(value not in (-1, 1) for value in sign):
                raise ValueError(f"{kind}_sign must hold only +1 and -1, got {sign}")


@dataclass(frozen=True, eq=False)
class ParameterTie:
    """
    A network's parameters as signed copies of fewer free ones: ``params = sign * free[index]``.

    :param index: the free parameter each network parameter copies
    :param sign: +1 or -1, or 0 for a parameter the tie forces to zero
    :param segments: boundaries of the free chromosome's segments (the free parameters of each neuron), for crossover
    """

    index: np.ndarray
    sign: np.ndarray
    segments: np.ndarray

    @property
    def num_free(self) -> int:
        """The number of free parameters (one synapse subpopulation each)."""
        return int(self.segments[-1])

    def expand(self, free: np.ndarray) -> np.ndarray:
        """
        The network parameters of free parameter vectors.

        :param free: shape ``(..., num_free)``
        :return: shape ``(..., num_params)``, C-contiguous
        """
        return np.ascontiguousarray(np.asarray(free, dtype=np.float64)[..., self.index] * self.sign)


class _SignedUnion:
    """Union-find over parameters with a sign on every link: each parameter is +1 or -1 times its class's root."""

    def __init__(self, size: int) -> None:
        self.parent = np.arange(size)
        self.sign = np.ones(size, dtype=np.int64)
        self.zero_roots: set[int] = set()

    def find(self, a: int) -> tuple[int, int]:
        """The root of ``a``'s class and the sign with which ``a`` copies it."""
        sign = 1
        while self.parent[a] != a:
            sign *= int(self.sign[a])
            a = int(self.parent[a])
        return a, sign

    def tie(self, a: int, b: int, sign: int) -> None:
        """Require parameter ``a`` to equal ``sign`` times parameter ``b``."""
        (root_a, sign_a), (root_b, sign_b) = self.find(a), self.find(b)
        if root_a == root_b:
            if sign_a != sign * sign_b:  # x = -x: the class is zero
                self.zero_roots.add(root_a)
            return
        # A zero root linked below another stays in zero_roots: _tie_from_union maps it to its new root.
        self.parent[root_a], self.sign[root_a] = root_b, sign_a * sign * sign_b


def mirror_tie(spec: NetworkSpec, mirror: Mirror) -> ParameterTie:
    """
    The ties that make a network equivariant to a mirror: ``policy(mirrored obs) = mirrored policy(obs)``.

    Every hidden layer's units come in mirror pairs (unit ``k`` and unit ``k + n/2`` see mirrored inputs), so a
    hidden layer must have an even number of units. The hidden activation and the output squashing (``tanh``) are
    odd functions, so output signs of -1 are exact for Box actions.

    :param spec: the network
    :param mirror: the task's mirror
    :raises ValueError: if the mirror does not fit the network's inputs and outputs, or a hidden layer is odd
    """
    n_inputs, n_outputs = int(spec.layer_sizes[0]), int(spec.layer_sizes[-1])
    if spec.recurrent:
        raise ValueError("a mirror needs a feed-forward policy (MlpPolicy or LinearPolicy), not a recurrent one")
    if len(mirror.obs_perm) != n_inputs or len(mirror.action_perm) != n_outputs:
        raise ValueError(
            f"the mirror maps {len(mirror.obs_perm)} observation and {len(mirror.action_perm)} action components, "
            f"but the network has {n_inputs} inputs and {n_outputs} outputs: give one entry per input and output"
        )
    if any(units % 2 for units in spec.hidden):
        raise ValueError(f"a mirror pairs hidden units, so every hidden layer needs an even size, got {list(spec.hidden)}")
    bias = int(spec.with_bias)
    union = _SignedUnion(spec.num_params)
    in_perm, in_sign = np.array(mirror.obs_perm), np.array(mirror.obs_sign)
    blocks = spec.layer_blocks()
    for layer, (start, n_out, n_in) in enumerate(blocks):
        if layer == len(blocks) - 1:
            out_perm, out_sign = np.array(mirror.action_perm), np.array(mirror.action_sign)
        else:
            out_perm, out_sign = (np.arange(n_out) + n_out // 2) % n_out, np.ones(n_out, dtype=np.int64)
        stride = n_in + bias
        for j in range(n_out):
            # Unit j on the mirrored input is unit out_perm[j] on the input, times out_sign[j].
            mirrored = start + int(out_perm[j]) * stride
            for i in range(n_in):
                union.tie(start + j * stride + i, mirrored + int(in_perm[i]), int(out_sign[j] * in_sign[i]))
            if bias:
                union.tie(start + j * stride + n_in, mirrored + n_in, int(out_sign[j]))
        in_perm, in_sign = out_perm, out_sign
    return _tie_from_union(union, spec.segments)


def _tie_from_union(union: _SignedUnion, segments: np.ndarray) -> ParameterTie:
    """Number the classes in chromosome order (so each neuron's free parameters stay together) and keep the signs."""
    roots, signs = zip(*(union.find(a) for a in range(union.parent.size)), strict=True)
    zero_roots = {union.find(root)[0] for root in union.zero_roots}
    free_of_root: dict[int, int] = {}
    neuron_of_free: list[int] = []
    neuron_of_param = np.repeat(np.arange(segments.size - 1), np.diff(segments))
    for param, root in enumerate(roots):
        if root not in zero_roots and root not in free_of_root:
            free_of_root[root] = len(free_of_root)
            neuron_of_free.append(int(neuron_of_param[param]))
    index = np.array([free_of_root.get(root, 0) for root in roots], dtype=np.int64)
    sign = np.array([0.0 if root in zero_roots else float(s) for root, s in zip(roots, signs, strict=True)])
    changes = np.flatnonzero(np.diff(neuron_of_free)) + 1
    free_segments = np.concatenate(([0], changes, [len(free_of_root)])).astype(np.int64)
    return ParameterTie(index=index, sign=sign, segments=free_segments)
