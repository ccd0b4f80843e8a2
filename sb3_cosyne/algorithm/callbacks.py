"""How CoSyNE reports env steps to SB3 callbacks: at each step on the VecEnv path, replayed after episodes that ran
elsewhere (in a compiled loop or in worker processes)."""

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback

from sb3_cosyne.evaluation.result import EvaluationResult, Transition

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm


def progress_bars(callback: BaseCallback) -> list[ProgressBarCallback]:
    """The progress bars among the callbacks (nested in ``CallbackList`` or not)."""
    if isinstance(callback, CallbackList):
        return [bar for child in callback.callbacks for bar in progress_bars(child)]
    return [callback] if isinstance(callback, ProgressBarCallback) else []


def is_silent(callback: BaseCallback) -> bool:
    """Whether a step does nothing to the callback but count: SB3's stand-in for no callback, alone or in lists."""
    # Exact types: a subclass may do something at each step.
    if type(callback) is CallbackList:
        return all(is_silent(child) for child in callback.callbacks)
    return type(callback) is ConvertCallback and callback.callback is None


def count_steps(callback: BaseCallback, n_steps: int, num_timesteps: int) -> None:
    """Leave a silent callback (and its children) as ``n_steps`` calls of ``on_step`` would."""
    callback.n_calls += n_steps
    callback.num_timesteps = num_timesteps
    if type(callback) is CallbackList:
        for child in callback.callbacks:
            count_steps(child, n_steps, num_timesteps)


def transition_locals(transition: Transition) -> dict[str, Any]:
    """What SB3's on-policy loop puts in ``callback.locals`` at a step, from a batched step of the lanes."""
    return {
        "actions": transition.actions,
        "new_obs": transition.new_obs,
        "rewards": transition.rewards,
        "dones": transition.dones,
        "infos": transition.infos,
    }


def replayed_locals(done: bool, info: dict) -> dict[str, Any]:
    """
    ``callback.locals`` at a replayed step (of an episode that ran elsewhere): one lane, whose step is known only by
    whether it ended the episode and, at the end, by the episode's return and length (as ``Monitor`` reports them)
    and ``is_success``; observations, actions and rewards are not known (None, NaN).
    """
    return {"actions": None, "new_obs": None, "rewards": np.array([np.nan]), "dones": np.array([done]), "infos": [info]}


def final_infos(result: EvaluationResult) -> list[dict]:
    """The info of each episode's last step, as ``Monitor`` and the env report them: return, length, ``is_success``."""
    infos = [{"episode": {"r": r, "l": n}} for r, n in zip(result.returns.ravel(), result.lengths.ravel(), strict=True)]
    if result.successes is not None:
        for info, success in zip(infos, result.successes.ravel(), strict=True):
            if not np.isnan(success):
                info["is_success"] = bool(success)
    return infos


class StepReporter:
    """
    Counts a model's env steps and fires its callback at each of them, during one evaluation, with
    ``callback.locals`` as SB3's on-policy loop fills it (``actions``, ``new_obs``, ``rewards``, ``dones``,
    ``infos``).

    :param model: the model whose ``num_timesteps`` counts the steps
    :param callback: the callback of ``learn``
    """

    def __init__(self, model: "BaseAlgorithm", callback: BaseCallback) -> None:
        self.model = model
        self.callback = callback
        self.silent = is_silent(callback)
        self._running_locals = replayed_locals(False, {})

    def on_step(self, n_steps: int, transition: Callable[[], Transition]) -> bool:
        """
        A batched step of ``n_steps`` lanes on the VecEnv path (SB3 calls ``on_step`` once per batched step too).

        :param transition: gives the step's arrays over the lanes (made only for a callback that may read them)
        :return: False when the callback stops training
        """
        self.model.num_timesteps += n_steps
        if not self.silent:
            self.callback.update_locals(transition_locals(transition()))
        return self.callback.on_step()

    def on_episodes(self, result: EvaluationResult) -> bool:
        """
        Episodes that already ran elsewhere: their steps are replayed one by one, so that step-counting callbacks
        (``EvalCallback``'s ``eval_freq``, ``CheckpointCallback``'s ``save_freq``) fire as on the VecEnv path.

        :param result: the episodes' result
        :return: False when the callback stopped training (the steps after it are not counted)
        """
        lengths = result.lengths.ravel()
        if self.silent:
            # Replaying would only count: counted at once, since a replayed step costs more than a compiled one.
            n_steps = int(lengths.sum())
            self.model.num_timesteps += n_steps
            count_steps(self.callback, n_steps, self.model.num_timesteps)
            return True
        bars = progress_bars(self.callback)
        surplus = self.model.env.num_envs - 1  # SB3's bar counts num_envs steps per call, here one step each
        for length, info in zip(lengths, final_infos(result), strict=True):
            for bar in bars:
                if surplus:
                    bar.pbar.update(-surplus * int(length))
            if not all(self._replay_step(done=step == length - 1, info=info) for step in range(int(length))):
                return False
        return True

    def _replay_step(self, done: bool, info: dict) -> bool:
        self.model.num_timesteps += 1
        # Every step but an episode's last says the same: those locals are made once, not at each of millions of steps.
        self.callback.update_locals(replayed_locals(done, info) if done else self._running_locals)
        return self.callback.on_step()

    def on_cut(self, n_episodes: int) -> None:
        """Episodes of an env without a time limit reached ``max_episode_steps`` and were cut: warn once per model."""
        if not self.model._warned_cut:
            self.model._warned_cut = True
            warnings.warn(
                f"{n_episodes} episode(s) reached max_episode_steps={self.model.max_episode_steps} without ending and "
                "were cut there: give the env a time limit (gymnasium's TimeLimit, or max_episode_steps of gym.make) "
                "or raise CoSyNE's max_episode_steps (warned once)",
                stacklevel=3,
            )

    def on_invalid(self, network: int, step: int, what: str) -> None:
        """An env returned a non-finite value: warn once per model."""
        if not self.model._warned_invalid:
            self.model._warned_invalid = True
            warnings.warn(
                f"the env returned a non-finite {what} at step {step} of network {network}'s episode: "
                "that network gets the worst fitness (warned once)",
                stacklevel=2,
            )
