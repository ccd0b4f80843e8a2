"""The hidden activations of CoSyNE's Numba networks, by code, and ``tanh`` in plain arithmetic.

``tanh`` is written out so that loops over units or lanes compile to vector instructions.

A call to libm's ``tanh`` keeps a loop scalar, and costs 3-4 times as much as this one in a loop that
vectorises (``python -m benchmarks.tanh_speed`` measures both). This one is branch-free: both of its formulas
are computed and one is selected, with a single division between them. Within 2 ulp of libm's ``tanh`` (tested
on millions of arguments); torch's ``tanh``, which the policy's ``predict`` uses, differs from libm's in the
last bits too.

* ``|x| < 0.625``: ``x + x^3 P(x^2) / Q(x^2)``, the rational minimax approximation of the Cephes library
  (relative error below 2.5e-16 there).
* otherwise: ``1 - 2 / (exp(2|x|) + 1)``, with ``exp`` by Cody-Waite reduction to ``2^k exp(r)``,
  ``|r| <= ln(2) / 2``, ``exp(r)`` from its Taylor polynomial of degree 13 (truncation below 5e-18) and ``2^k``
  written straight into the exponent bits. ``|x|`` is capped at 20, where ``tanh`` rounds to 1.
"""

from math import factorial

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import intrinsic

_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_Q = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)
_LOG2E = 1.44269504088896338700
# ln 2 in two parts: k * _LN2_HI is exact for the k used here
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
#: exp's Taylor coefficients, highest degree first (for Horner's rule)
_EXP_TAYLOR = tuple(1.0 / factorial(n) for n in range(13, -1, -1))
# Adding 1.5 * 2^52 rounds to an integer (in the current rounding mode, to nearest) held in the low mantissa bits.
_SHIFTER = 6755399441055744.0
_SMALL = 0.625
_SATURATED = 20.0


@intrinsic
def _float_bits(typingctx, value):
    """A float64's IEEE bits as an int64 (a register move, which keeps loops vectorisable)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@njit(cache=True, inline="always", error_model="numpy")
def tanh(x: float) -> float:
    """
    The hyperbolic tangent of ``x``, within 2 ulp of libm's; signed zeros, infinities and NaN as libm's.

    Inlined, it takes the caller's error model: callers that should vectorise compile with
    ``error_model="numpy"`` (the division never has a zero divisor, but Python's model checks it).
    """
    a = abs(x)
    z = a * a
    t = 2.0 * (_SATURATED if a > _SATURATED else a)
    shifted = t * _LOG2E + _SHIFTER
    k = shifted - _SHIFTER
    r = (t - k * _LN2_HI) - k * _LN2_LO
    exp_r = 0.0
    for coefficient in _EXP_TAYLOR:
        exp_r = exp_r * r + coefficient
    two_to_k = _bits_float((_float_bits(shifted) - _float_bits(_SHIFTER) + 1023) << 52)
    small = a < _SMALL
    # one division serves both formulas
    numerator = a * z * ((_P[0] * z + _P[1]) * z + _P[2]) if small else 2.0
    denominator = ((z + _Q[0]) * z + _Q[1]) * z + _Q[2] if small else exp_r * two_to_k + 1.0
    fraction = numerator / denominator
    return np.copysign(a + fraction if small else 1.0 - fraction, x)


@njit(cache=True, error_model="numpy")
def tanh_array(values: np.ndarray) -> np.ndarray:
    """:func:`tanh` of every entry of a two-dimensional array, as a new float64 array (for numpy callers)."""
    out = np.empty(values.shape)
    for row in range(values.shape[0]):
        for column in range(values.shape[1]):
            out[row, column] = tanh(values[row, column])
    return out


#: codes of the hidden activations :func:`activate` implements
TANH, RELU, IDENTITY, ELU, SIGMOID = range(5)


# Inlined, so that a loop of activations over units or lanes compiles to vector instructions (in callers
# compiled with ``error_model="numpy"``).
@njit(cache=True, inline="always")
def activate(value: float, code: int) -> float:
    """The hidden activation of code ``code`` (:data:`TANH`, :data:`RELU`, :data:`IDENTITY`, :data:`ELU`, :data:`SIGMOID`)."""
    if code == TANH:
        return tanh(value)
    if code == RELU:
        return max(value, 0.0)
    if code == ELU:
        return value if value > 0.0 else np.expm1(value)
    if code == SIGMOID:
        return 1.0 / (1.0 + np.exp(-value))
    return value
