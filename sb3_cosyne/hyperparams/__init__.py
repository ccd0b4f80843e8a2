"""CoSyNE's tuned hyperparameters, in rl_zoo3's yml format (``cosyne.yml`` beside this file)."""

import difflib
import inspect
from pathlib import Path
from typing import Any

import yaml

#: The yml shipped with the package.
DEFAULT_PATH = Path(__file__).with_name("cosyne.yml")
#: Keys rl_zoo3 consumes itself rather than passing to the algorithm.
ZOO_KEYS = frozenset(
    {"n_timesteps", "policy", "n_envs", "normalize", "env_wrapper", "vec_env_wrapper", "frame_stack", "callback",
     "monitor_kwargs", "env_kwargs"}
)  # fmt: skip


def algorithm_keys() -> frozenset[str]:
    """The constructor arguments of :class:`~sb3_cosyne.CoSyNE` a yml entry may set."""
    from sb3_cosyne.algorithm.cosyne import CoSyNE

    names = inspect.signature(CoSyNE.__init__).parameters
    # The evaluator is a runtime object (workers, a cluster), not a hyperparameter.
    runtime = {"self", "policy", "env", "evaluator", "_init_setup_model", "seed", "verbose"}
    return frozenset(name for name in names if name not in runtime)


def load_hyperparams(env_id: str, path: str | Path | None = None) -> dict[str, Any]:
    """
    The yml entry of an env, checked for unknown keys.

    :param env_id: gymnasium id of the env
    :param path: yml file; the package's ``cosyne.yml`` by default
    :raises KeyError: when the file has no entry for ``env_id``
    :raises ValueError: naming any key that neither rl_zoo3 nor CoSyNE knows, with the closest known key
    :return: the entry, as in the file
    """
    path = DEFAULT_PATH if path is None else Path(path)
    with open(path) as file:
        entries = yaml.safe_load(file) or {}
    if env_id not in entries:
        raise KeyError(f"{path} has no hyperparameters for {env_id!r}; it has: {', '.join(sorted(entries))}")
    entry = dict(entries[env_id])
    known = ZOO_KEYS | algorithm_keys()
    for key in entry:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown hyperparameter {key!r} for {env_id} in {path}{hint}")
    return entry


def model_kwargs(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """
    Split a yml entry into the policy name and the keyword arguments of :class:`~sb3_cosyne.CoSyNE`.

    ``policy_kwargs`` given as a string (rl_zoo3's convention) is evaluated with ``torch.nn`` as ``nn``.

    :param entry: a yml entry (see :func:`load_hyperparams`)
    :return: the policy and the constructor keyword arguments
    """
    from torch import nn

    kwargs = {key: value for key, value in entry.items() if key not in ZOO_KEYS}
    if isinstance(kwargs.get("policy_kwargs"), str):
        kwargs["policy_kwargs"] = eval(kwargs["policy_kwargs"], {"nn": nn, "dict": dict})
    return entry.get("policy", "MlpPolicy"), kwargs


def entry_env(env_id: str, entry: dict[str, Any]) -> Any:
    """
    The env a yml entry trains on: the id itself, which ``CoSyNE`` makes into one env, or, where the entry sets
    ``n_envs``, a ``DummyVecEnv`` of that many lanes as rl_zoo3 makes it, but without a render mode (with
    ``rgb_array``, SB3's default, LunarLander simulates its decorative exhaust particles at every step).

    :param env_id: gymnasium id of the env
    :param entry: its yml entry (see :func:`load_hyperparams`)
    :return: the id, or the VecEnv
    """
    n_envs = entry.get("n_envs", 1)
    if n_envs == 1:
        return env_id
    from stable_baselines3.common.env_util import make_vec_env

    return make_vec_env(env_id, n_envs=n_envs, env_kwargs=dict(render_mode=None))


def tuned_entry(env_id: str) -> dict[str, Any]:
    """
    The tuned entry of ``env_id`` in the package's ``cosyne.yml``, or an empty one (CoSyNE's defaults, one env)
    when it has none.

    :param env_id: gymnasium id of the env
    :return: the entry
    """
    try:
        return load_hyperparams(env_id)
    except KeyError:
        return {}


def tuned_or_default(env_id: str) -> tuple[str, dict[str, Any]]:
    """
    The policy and constructor keyword arguments of the tuned entry of ``env_id`` in the package's ``cosyne.yml``,
    or ``("MlpPolicy", {})`` (CoSyNE's defaults) when it has none.

    :param env_id: gymnasium id of the env
    :return: the policy and the constructor keyword arguments
    """
    return model_kwargs(tuned_entry(env_id))
