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

The state is a float64 vector ``(x, ẋ, θ1, θ̇1[, θ2, θ̇2])`` in metres, m/s, radians and rad/s; the number of
poles is read from its length (4: one pole, 6: two). Every function is a Numba function, so that a compiled
rollout loop can call them directly; the in-place ones allocate nothing.
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


@njit(cache=True)
def _hinge(theta_dot: float, pole: int) -> float:
    """One pole's hinge friction term ``μp θ̇_i / (m_i l_i)``."""
    return MU_POLE * theta_dot / (POLE_MASSES[pole] * POLE_HALF_LENGTHS[pole])


@njit(cache=True)
def _pole_terms(theta_dot: float, hinge: float, sin_theta: float, cos_theta: float, pole: int) -> tuple[float, float]:
    """One pole's ``F̃_i`` and ``m̃_i``."""
    mass = POLE_MASSES[pole]
    mass_length = mass * POLE_HALF_LENGTHS[pole]
    effective_force = mass_length * theta_dot * theta_dot * sin_theta + 0.75 * mass * cos_theta * (hinge + GRAVITY * sin_theta)
    return effective_force, mass * (1.0 - 0.75 * cos_theta * cos_theta)


@njit(cache=True)
def _pole_acceleration(x_acc: float, hinge: float, sin_theta: float, cos_theta: float, pole: int) -> float:
    """One pole's ``θ̈_i``."""
    return -0.75 * (x_acc * cos_theta + GRAVITY * sin_theta + hinge) / POLE_HALF_LENGTHS[pole]


@njit(cache=True)
def derivatives(state: np.ndarray, force: float, out: np.ndarray) -> None:
    """
    Time derivative of the state under a constant force: first derivatives copied from the state,
    second derivatives from Wieland's equations.

    :param state: ``(x, ẋ, θ1, θ̇1[, θ2, θ̇2])``
    :param force: force on the cart (N), already clamped
    :param out: receives ``(ẋ, ẍ, θ̇1, θ̈1[, θ̇2, θ̈2])``
    """
    two_poles = state.shape[0] == 6
    cart_velocity_sign = 1.0 if state[1] >= 0.0 else -1.0
    numerator = force - MU_CART * cart_velocity_sign
    denominator = MASS_CART
    # Each angle's sine and cosine (and each hinge term) once: they are most of a step's cost; the same values,
    # so the same results.
    sin1, cos1, hinge1 = np.sin(state[2]), np.cos(state[2]), _hinge(state[3], 0)
    effective_force, effective_mass = _pole_terms(state[3], hinge1, sin1, cos1, 0)
    numerator += effective_force
    denominator += effective_mass
    sin2 = cos2 = hinge2 = 0.0
    if two_poles:
        sin2, cos2, hinge2 = np.sin(state[4]), np.cos(state[4]), _hinge(state[5], 1)
        effective_force, effective_mass = _pole_terms(state[5], hinge2, sin2, cos2, 1)
        numerator += effective_force
        denominator += effective_mass
    x_acc = numerator / denominator

    out[0] = state[1]
    out[1] = x_acc
    out[2] = state[3]
    out[3] = _pole_acceleration(x_acc, hinge1, sin1, cos1, 0)
    if two_poles:
        out[4] = state[5]
        out[5] = _pole_acceleration(x_acc, hinge2, sin2, cos2, 1)


@njit(cache=True)
def rk4_step(state: np.ndarray, force: float, tau: float, work: np.ndarray) -> None:
    """
    One classical Runge-Kutta step (Numerical Recipes' ``rk4``, as in Gomez's code) under a constant force, in place.

    :param state: state at the start of the step, replaced by the state at its end
    :param force: force on the cart (N), already clamped
    :param tau: step length (s)
    :param work: work buffer, shape ``(5, len(state))``
    """
    k1, k2, k3, k4, stage = work[0], work[1], work[2], work[3], work[4]
    n = state.shape[0]
    derivatives(state, force, k1)
    for i in range(n):
        stage[i] = state[i] + 0.5 * tau * k1[i]
    derivatives(stage, force, k2)
    for i in range(n):
        stage[i] = state[i] + 0.5 * tau * k2[i]
    derivatives(stage, force, k3)
    for i in range(n):
        stage[i] = state[i] + tau * k3[i]
    derivatives(stage, force, k4)
    for i in range(n):
        state[i] = state[i] + (tau / 6.0) * (k1[i] + k4[i] + 2.0 * (k2[i] + k3[i]))


@njit(cache=True)
def advance_in_place(state: np.ndarray, action: float, work: np.ndarray) -> None:
    """
    Advance the state by one action: the action's force held for ``STEPS_PER_ACTION`` Runge-Kutta steps of ``TAU``.

    :param state: current state, replaced by the new one
    :param action: the controller's output in [−1, 1] (see :func:`force_from_action`)
    :param work: work buffer, shape ``(5, len(state))``
    """
    force = force_from_action(action)
    for _ in range(STEPS_PER_ACTION):
        rk4_step(state, force, TAU, work)


@njit(cache=True)
def advance(state: np.ndarray, action: float) -> np.ndarray:
    """
    The state one action later (see :func:`advance_in_place`).

    :param state: current state
    :param action: the controller's output in [−1, 1] (see :func:`force_from_action`)
    :return: the new state (a new array; ``state`` is not modified)
    """
    new = state.copy()
    advance_in_place(new, action, np.empty((5, state.shape[0])))
    return new


@njit(cache=True)
def has_failed(state: np.ndarray) -> bool:
    """
    Whether the cart left the track (``|x| > 2.4`` m) or a pole passed the failure angle
    (12° with one pole, 36° with two), the bounds being inside as in Gomez's ``outsideBounds``.

    :param state: current state
    :return: True on failure
    """
    n_poles = (state.shape[0] - 2) // 2
    limit = ONE_POLE_ANGLE_LIMIT if n_poles == 1 else TWO_POLE_ANGLE_LIMIT
    failed = abs(state[0]) > TRACK_LIMIT
    for i in range(n_poles):
        failed = failed or abs(state[2 + 2 * i]) > limit
    return failed
