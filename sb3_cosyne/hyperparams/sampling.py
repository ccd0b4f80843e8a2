"""Optuna search space of CoSyNE's hyperparameters, in rl_zoo3's sampler/converter convention."""

from typing import Any

#: Hidden layers of the sampled network, by name (the name is what Optuna records). "configured" keeps the yml
#: entry's network; the others have one hidden layer, which every policy (recurrent included) accepts.
NET_ARCHS: dict[str, list[int] | None] = {"configured": None, "tiny": [4], "small": [8], "medium": [16]}
POP_SIZES = [8, 12, 20, 40]


def convert_cosyne_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn the values Optuna recorded into CoSyNE's constructor arguments (rl_zoo3's ``HYPERPARAMS_CONVERTER``).

    :param sampled_params: a trial's parameters, e.g. ``study.best_trial.params``
    :return: keyword arguments of :class:`~sb3_cosyne.CoSyNE`
    """
    hyperparams = dict(sampled_params)
    net_arch = NET_ARCHS[hyperparams.pop("net_arch", "configured")]
    if net_arch is not None:
        hyperparams["policy_kwargs"] = dict(net_arch=net_arch)
    return hyperparams


def sample_cosyne_params(trial: Any, n_actions: int, n_envs: int, additional_args: dict[str, Any]) -> dict[str, Any]:
    """
    Sample CoSyNE's hyperparameters (rl_zoo3's ``HYPERPARAMS_SAMPLER`` signature).

    Every sampled combination is valid for every policy: ``parent_fraction`` stays at its default, which every
    population size here allows, and the networks have the entry's layers or one hidden layer.

    :param trial: the Optuna trial
    :param n_actions: number of continuous actions (unused: the network's outputs follow the action space)
    :param n_envs: number of envs (unused: each lane runs its own network)
    :param additional_args: rl_zoo3's extra sampler arguments (unused)
    :return: keyword arguments of :class:`~sb3_cosyne.CoSyNE`
    """
    return convert_cosyne_params(
        {
            "pop_size": trial.suggest_categorical("pop_size", POP_SIZES),
            "mutation_prob": trial.suggest_float("mutation_prob", 0.05, 0.6),
            "mutation_scale": trial.suggest_float("mutation_scale", 0.03, 1.0, log=True),
            "permutation": trial.suggest_categorical("permutation", ["all", "proportional"]),
            "init_scale": trial.suggest_float("init_scale", 0.3, 10.0, log=True),
            "n_eval_episodes": trial.suggest_int("n_eval_episodes", 1, 3),
            "net_arch": trial.suggest_categorical("net_arch", list(NET_ARCHS)),
        }
    )
