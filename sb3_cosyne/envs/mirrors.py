"""Known left-right mirrors of envs, as the fields of :class:`sb3_cosyne.networks.symmetry.Mirror`.

The mirrored observation is ``obs_sign * obs[obs_perm]``; in it the mirrored action is
``action_sign * action[action_perm]`` (for discrete actions, ``action_perm`` maps each action to its mirror).
"""

_LANDER_OBS = {
    # x, y, vx, vy, angle, angular velocity, left leg contact, right leg contact: x, vx and the rotation flip
    "obs_perm": (0, 1, 2, 3, 4, 5, 7, 6),
    "obs_sign": (-1, 1, -1, 1, -1, -1, 1, 1),
}

#: env id -> the fields of its Mirror
MIRRORS: dict[str, dict[str, tuple[int, ...]]] = {
    # Actions: nothing, left engine, main engine, right engine.
    "LunarLander-v3": {**_LANDER_OBS, "action_perm": (0, 3, 2, 1), "action_sign": (1, 1, 1, 1)},
    # Actions: main throttle, lateral throttle (left engine below -0.5, right above 0.5).
    "LunarLanderContinuous-v3": {**_LANDER_OBS, "action_perm": (0, 1), "action_sign": (1, -1)},
    # Hull (4), leg 1 (hip angle and speed, knee angle and speed, contact), leg 2 (the same), lidar (10): the two
    # legs are identical, so swapping them is exact. Actions: hip 1, knee 1, hip 2, knee 2.
    "BipedalWalker-v3": {
        "obs_perm": (0, 1, 2, 3, *range(9, 14), *range(4, 9), *range(14, 24)),
        "obs_sign": (1,) * 24,
        "action_perm": (2, 3, 0, 1),
        "action_sign": (1, 1, 1, 1),
    },
}
