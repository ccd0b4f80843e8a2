"""Cart-pole physics of the CoSyNE paper (Gomez, Schmidhuber & Miikkulainen, JMLR 9, 2008, Appendix A).

Wieland's (1991) equations for N unjointed poles hinged on one cart, integrated with 4th-order Runge-Kutta
at ``TAU = 0.01`` s, ``STEPS_PER_ACTION = 2`` integration steps per action, as in Gomez's ``CartPole.cpp``::

    ẍ   = (F − μc·sgn(ẋ) + Σ_i F̃_i) / (M + Σ_i m̃_i)
    θ̈_i = −(3 / (4 l_i)) · (ẍ cos θ_i + g sin θ_i + μp θ̇_i / (m_i l_i))
    F̃_i = m_i l_i θ̇_i² sin θ_i + (3/4) m_i cos θ_i (μp θ̇_i / (m_i l_i) + g sin θ_i)
    m̃_i = m_i (1 − (3/4) cos² θ_i)

with g = −9.8 (the sign convention that makes these equations right), M = 1 kg, μc = 0.0005, μp = 0.000002,
pole half-lengths 0.5 m and 0.05 m, pole masses 0.1 kg and 0.01 kg. A one-pole state uses only the long pole.
As in Gomez's code, ``sgn(0) = +1`` (his macro is ``x >= 0 ? 1 : -1``), which matters only at rest.

The state of a cart is a column of a ``(2 + 2 * n_poles, lanes)`` array: the compiled rollouts advance many carts
(lanes) at once, in loops the compiler turns into vector instructions, and the env advances its one cart with the
same code, so that both give the same states bit for bit. Sines and cosines come from :func:`sin_cos`, a
polynomial within an ulp of libm's, since a call to libm would keep the loops scalar.

The state is a float64 vector ``(x, ẋ, θ1, θ̇1[, θ2, θ̇2])`` in metres, m/s, radians and rad/s; the number of
poles is read from its length (4: one pole, 6: two). Every function is a Numba function, so that a compiled
rollout loop can call them directly.
"""

import numpy as np
from numba import njit

GRAVITY = -9.8
MASS_CART = 1.0
#: Half-length (m) and mass (kg) of the long pole, then the short one; a one-pole cart has only the first.
POLE_HALF_LENGTHS = (0.5, 0.05)
POLE_MASSES = (0.1, 0.01)
MU_CART = 0.0005
MU_POLE = 0.000002
TAU = 0.01
STEPS_PER_ACTION = 2

FORCE_MAG = 10.0
#: The smallest force magnitude (paper: "no less than 1/256 × 10 N"), so zero force cannot rest at an unstable equilibrium.
MIN_FORCE = 10.0 / 256.0

TRACK_LIMIT = 2.4
#: Failure angles of Gomez's code: 12° with one pole, 36° with two.
ONE_POLE_ANGLE_LIMIT = 0.2094384
TWO_POLE_ANGLE_LIMIT = 0.628329

#: Gomez's degree constant (2π/360 truncated): his start angle is ``4.0156035 * 0.0174532`` rad.
ONE_DEGREE = 0.0174532
INITIAL_LONG_POLE_ANGLE = 4.0156035 * ONE_DEGREE


@njit(cache=True)
def force_from_action(action: float) -> float:
    """
    Force on the cart (N) for an action in [−1, 1]: ``10·a`` after clipping ``a`` to [−1, 1], with a magnitude
    of at least ``MIN_FORCE`` keeping the sign (``a = 0`` gives ``+MIN_FORCE``, as Gomez's ``force >= 0``
    branch does). A NaN action gives ``+FORCE_MAG``, Gomez's guard against huge network weights.

    :param action: the controller's output
    :return: the force in newtons
    """
    if np.isnan(action):
        return FORCE_MAG
    force = FORCE_MAG * min(max(action, -1.0), 1.0)
    if 0.0 <= force < MIN_FORCE:
        return MIN_FORCE
    if -MIN_FORCE < force < 0.0:
        return -MIN_FORCE
    return force


# Cody-Waite reduction by π/2 (split into three parts; the first has 33 significant bits, so that k times it is
# exact for |k| < 2**20) and the minimax polynomials of sin and cos on [-π/4, π/4] (fdlibm's coefficients).
_TWO_OVER_PI = 6.36619772367581382433e-01
_HALF_PI = (1.57079632673412561417e00, 6.07710050630396597660e-11, 2.02226624879595063154e-21)
_SIN = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
        2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)  # fmt: skip
_COS = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
        -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)  # fmt: skip


@njit(cache=True, inline="always", error_model="numpy")
def sin_cos(x: float) -> tuple[float, float]:
    """
    ``(sin x, cos x)`` in plain arithmetic, so that the compiler can run it on several lanes at once: within one
    unit in the last place of libm's for ``|x| < 20`` (equal to it for most ``x``), two up to ``2**19``, beyond
    which the reduction loses precision (a pole fails at 36°). NaN and infinities give NaN.

    :param x: an angle in radians
    :return: its sine and cosine
    """
    k = np.floor(x * _TWO_OVER_PI + 0.5)
    r = ((x - k * _HALF_PI[0]) - k * _HALF_PI[1]) - k * _HALF_PI[2]
    z = r * r
    s1, s2, s3, s4, s5, s6 = _SIN
    sine = r + (z * r) * (s1 + z * (s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)))))
    c1, c2, c3, c4, c5, c6 = _COS
    half_z = 0.5 * z
    w = 1.0 - half_z
    # 1 - z/2 with its rounding error added back, for cosines near 1
    cosine = w + (((1.0 - w) - half_z) + (z * z) * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * c6))))))
    quadrant = k - 4.0 * np.floor(0.25 * k)
    odd = quadrant == 1.0 or quadrant == 3.0
    sine, cosine = (cosine, sine) if odd else (sine, cosine)
    sine = -sine if quadrant >= 2.0 else sine
    cosine = -cosine if quadrant == 1.0 or quadrant == 2.0 else cosine
    return sine, cosine


@njit(cache=True, inline="always", error_model="numpy")
def _pole_terms(theta: float, theta_dot: float, pole: int) -> tuple[float, float, float, float, float]:
    """One pole's ``F̃_i`` and ``m̃_i``, with what its acceleration needs: its hinge term, sine and cosine."""
    mass, half_length = POLE_MASSES[pole], POLE_HALF_LENGTHS[pole]
    sin_theta, cos_theta = sin_cos(theta)
    hinge = MU_POLE * theta_dot / (mass * half_length)
    effective_force = (mass * half_length) * theta_dot * theta_dot * sin_theta + 0.75 * mass * cos_theta * (
        hinge + GRAVITY * sin_theta
    )
    return effective_force, mass * (1.0 - 0.75 * cos_theta * cos_theta), hinge, sin_theta, cos_theta


@njit(cache=True, inline="always", error_model="numpy")
def _pole_acceleration(x_acc: float, hinge: float, sin_theta: float, cos_theta: float, pole: int) -> float:
    """One pole's ``θ̈_i``."""
    return -0.75 * (x_acc * cos_theta + GRAVITY * sin_theta + hinge) / POLE_HALF_LENGTHS[pole]


@njit(cache=True, inline="always", error_model="numpy")
def _accelerations(
    force: float, x_dot: float, theta1: float, theta1_dot: float, theta2: float, theta2_dot: float, two_poles: bool
) -> tuple[float, float, float]:
    """``(ẍ, θ̈1, θ̈2)`` from Wieland's equations (``θ̈2 = 0`` with one pole)."""
    cart_velocity_sign = 1.0 if x_dot >= 0.0 else -1.0
    force1, mass1, hinge1, sin1, cos1 = _pole_terms(theta1, theta1_dot, 0)
    numerator = (force - MU_CART * cart_velocity_sign) + force1
    denominator = MASS_CART + mass1
    hinge2 = sin2 = cos2 = 0.0
    if two_poles:
        force2, mass2, hinge2, sin2, cos2 = _pole_terms(theta2, theta2_dot, 1)
        numerator += force2
        denominator += mass2
    x_acc = numerator / denominator
    theta2_acc = _pole_acceleration(x_acc, hinge2, sin2, cos2, 1) if two_poles else 0.0
    return x_acc, _pole_acceleration(x_acc, hinge1, sin1, cos1, 0), theta2_acc


@njit(cache=True, inline="always", error_model="numpy")
def _lane_derivatives(states: np.ndarray, forces: np.ndarray, n: int, out: np.ndarray) -> None:
    """
    Time derivatives of the first ``n`` columns of ``states`` (one lane each) into ``out``: first derivatives
    copied, second derivatives from :func:`_accelerations`. One loop over lanes per pole count, so that it runs on
    several lanes at once.
    """
    if states.shape[0] == 6:
        for lane in range(n):
            out[1, lane], out[3, lane], out[5, lane] = _accelerations(
                forces[lane], states[1, lane], states[2, lane], states[3, lane], states[4, lane], states[5, lane], True
            )
    else:
        for lane in range(n):
            out[1, lane], out[3, lane], _ = _accelerations(
                forces[lane], states[1, lane], states[2, lane], states[3, lane], 0.0, 0.0, False
            )
    for i in range(0, states.shape[0], 2):
        for lane in range(n):
            out[i, lane] = states[i + 1, lane]


@njit(cache=True, inline="always", error_model="numpy")
def _stage(states: np.ndarray, slope: np.ndarray, h: float, n: int, out: np.ndarray) -> None:
    """``out = states + h · slope`` on the first ``n`` lanes."""
    for i in range(states.shape[0]):
        for lane in range(n):
            out[i, lane] = states[i, lane] + h * slope[i, lane]


@njit(cache=True, inline="always", error_model="numpy")
def _rk4_end(y: float, k1: float, k2: float, k3: float, k4: float) -> float:
    """A Runge-Kutta step's end from its four slopes."""
    return y + (TAU / 6.0) * (k1 + k4 + 2.0 * (k2 + k3))


@njit(cache=True, inline="always", error_model="numpy")
def _cart_slopes(y: tuple, force: float, two_poles: bool) -> tuple:
    """The time derivative of one cart's state ``(x, ẋ, θ1, θ̇1, θ2, θ̇2)`` (zeros for a missing pole)."""
    x_acc, theta1_acc, theta2_acc = _accelerations(force, y[1], y[2], y[3], y[4], y[5], two_poles)
    return y[1], x_acc, y[3], theta1_acc, y[5], theta2_acc


@njit(cache=True, inline="always", error_model="numpy")
def _cart_stage(y: tuple, h: float, k: tuple) -> tuple:
    """``y + h · k`` for one cart, as :func:`_stage` computes it."""
    return y[0] + h * k[0], y[1] + h * k[1], y[2] + h * k[2], y[3] + h * k[3], y[4] + h * k[4], y[5] + h * k[5]


@njit(cache=True, inline="always", error_model="numpy")
def _advance_cart(states: np.ndarray, force: float, lane: int) -> None:
    """
    :func:`advance_lanes` for one lane, its state kept in registers: a lone cart's step is a chain of dependent
    operations, which loops over lanes would only lengthen.
    """
    two_poles = states.shape[0] == 6
    y = (
        states[0, lane], states[1, lane], states[2, lane], states[3, lane],
        states[4, lane] if two_poles else 0.0, states[5, lane] if two_poles else 0.0,
    )  # fmt: skip
    for _ in range(STEPS_PER_ACTION):
        k1 = _cart_slopes(y, force, two_poles)
        k2 = _cart_slopes(_cart_stage(y, 0.5 * TAU, k1), force, two_poles)
        k3 = _cart_slopes(_cart_stage(y, 0.5 * TAU, k2), force, two_poles)
        k4 = _cart_slopes(_cart_stage(y, TAU, k3), force, two_poles)
        y = (
            _rk4_end(y[0], k1[0], k2[0], k3[0], k4[0]), _rk4_end(y[1], k1[1], k2[1], k3[1], k4[1]),
            _rk4_end(y[2], k1[2], k2[2], k3[2], k4[2]), _rk4_end(y[3], k1[3], k2[3], k3[3], k4[3]),
            _rk4_end(y[4], k1[4], k2[4], k3[4], k4[4]), _rk4_end(y[5], k1[5], k2[5], k3[5], k4[5]),
        )  # fmt: skip
    for i in range(states.shape[0]):
        states[i, lane] = y[i]


#: from this many lanes on, loops over lanes beat advancing each cart on its own
VECTOR_LANES = 4


@njit(cache=True, inline="always", error_model="numpy")
def advance_lanes(states: np.ndarray, forces: np.ndarray, n: int, work: np.ndarray) -> None:
    """
    Advance lanes by one action each: its force held for ``STEPS_PER_ACTION`` classical Runge-Kutta steps of
    ``TAU`` (Numerical Recipes' ``rk4``, as in Gomez's code), in place. Every lane goes through the same float
    operations, however many lanes there are, so a state's trajectory does not depend on the lanes beside it.

    :param states: one state per column ``(x, ẋ, θ1, θ̇1[, θ2, θ̇2])``, shape ``(2 + 2 * n_poles, lanes)``; the
        first ``n`` columns are advanced
    :param forces: each lane's force on the cart (N), from :func:`force_from_action`
    :param n: the number of lanes to advance
    :param work: work buffer, shape ``(5, 2 + 2 * n_poles, lanes)``
    """
    if n < VECTOR_LANES:
        for lane in range(n):
            _advance_cart(states, forces[lane], lane)
        return
    k1, k2, k3, k4, stage = work[0], work[1], work[2], work[3], work[4]
    for _ in range(STEPS_PER_ACTION):
        _lane_derivatives(states, forces, n, k1)
        _stage(states, k1, 0.5 * TAU, n, stage)
        _lane_derivatives(stage, forces, n, k2)
        _stage(states, k2, 0.5 * TAU, n, stage)
        _lane_derivatives(stage, forces, n, k3)
        _stage(states, k3, TAU, n, stage)
        _lane_derivatives(stage, forces, n, k4)
        for i in range(states.shape[0]):
            for lane in range(n):
                states[i, lane] = _rk4_end(states[i, lane], k1[i, lane], k2[i, lane], k3[i, lane], k4[i, lane])


@njit(cache=True, error_model="numpy")
def advance_in_place(state: np.ndarray, action: float, work: np.ndarray) -> None:
    """
    Advance the state by one action (:func:`advance_lanes` on one lane).

    :param state: current state, replaced by the new one
    :param action: the controller's output in [−1, 1] (see :func:`force_from_action`)
    :param work: work buffer, shape ``(5, len(state), 1)``
    """
    forces = np.empty(1)
    forces[0] = force_from_action(action)
    advance_lanes(state.reshape((state.shape[0], 1)), forces, 1, work)


@njit(cache=True)
def advance(state: np.ndarray, action: float) -> np.ndarray:
    """
    The state one action later (see :func:`advance_in_place`).

    :param state: current state
    :param action: the controller's output in [−1, 1] (see :func:`force_from_action`)
    :return: the new state (a new array; ``state`` is not modified)
    """
    new = state.copy()
    advance_in_place(new, action, np.empty((5, state.shape[0], 1)))
    return new


@njit(cache=True, inline="always")
def lane_failed(states: np.ndarray, lane: int) -> bool:
    """
    Whether the cart of a lane left the track (``|x| > 2.4`` m) or a pole passed the failure angle (12° with one
    pole, 36° with two), the bounds being inside as in Gomez's ``outsideBounds``.

    :param states: one state per column, as :func:`advance_lanes` takes them
    :param lane: the column
    :return: True on failure
    """
    n_poles = (states.shape[0] - 2) // 2
    limit = ONE_POLE_ANGLE_LIMIT if n_poles == 1 else TWO_POLE_ANGLE_LIMIT
    failed = abs(states[0, lane]) > TRACK_LIMIT
    for i in range(n_poles):
        failed = failed or abs(states[2 + 2 * i, lane]) > limit
    return failed


@njit(cache=True)
def has_failed(state: np.ndarray) -> bool:
    """
    :func:`lane_failed` of one state.

    :param state: current state
    :return: True on failure
    """
    return lane_failed(state.reshape((state.shape[0], 1)), 0)
