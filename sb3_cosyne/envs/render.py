"""A small numpy drawing of the cart and its poles, for ``render_mode="rgb_array"`` (videos, GIFs)."""

import numpy as np

from sb3_cosyne.envs.physics import POLE_HALF_LENGTHS, TRACK_LIMIT

WIDTH, HEIGHT = 480, 240
#: pixels per metre: the whole track fits the width with a margin
SCALE = WIDTH / (2 * TRACK_LIMIT + 0.8)
GROUND = int(HEIGHT * 0.8)


def _line(image: np.ndarray, start: tuple[float, float], end: tuple[float, float], colour: tuple, width: int) -> None:
    """Draw a thick segment by stamping squares along it."""
    n = int(max(abs(end[0] - start[0]), abs(end[1] - start[1]))) + 1
    for t in np.linspace(0.0, 1.0, n):
        u = int(round(start[0] + t * (end[0] - start[0])))
        v = int(round(start[1] + t * (end[1] - start[1])))
        image[max(v - width, 0) : v + width + 1, max(u - width, 0) : u + width + 1] = colour


def draw(state: np.ndarray) -> np.ndarray:
    """
    Picture of a cart-pole state: the track, the cart, and each pole at its angle (pole lengths to scale,
    the short pole drawn beside the long one).

    :param state: ``(x, ẋ, θ1, θ̇1[, θ2, θ̇2])``
    :return: RGB image, shape ``(HEIGHT, WIDTH, 3)``, uint8
    """
    image = np.full((HEIGHT, WIDTH, 3), 255, dtype=np.uint8)
    image[GROUND : GROUND + 2] = (60, 60, 60)
    centre = WIDTH / 2 + state[0] * SCALE
    cart_half_width, cart_height = 0.25 * SCALE, 0.15 * SCALE
    left, right = int(centre - cart_half_width), int(centre + cart_half_width)
    image[int(GROUND - cart_height) : GROUND, max(left, 0) : max(right, 0)] = (40, 90, 160)
    colours = ((200, 120, 40), (120, 40, 160))
    for i in range((state.shape[0] - 2) // 2):
        theta = state[2 + 2 * i]
        length = 2 * POLE_HALF_LENGTHS[i] * SCALE
        base = (centre + (i * 0.5 - 0.25) * cart_half_width, GROUND - cart_height)
        tip = (base[0] + length * np.sin(theta), base[1] - length * np.cos(theta))
        _line(image, base, tip, colours[i], 2)
    return image
