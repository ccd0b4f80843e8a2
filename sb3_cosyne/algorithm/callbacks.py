"""How CoSyNE reports env steps to SB3 callbacks: at each step on the VecEnv path, replayed after episodes that ran
elsewhere (in a compiled loop or in worker processes)."""

import warnings
from typing import TYPE_CHECKING

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback

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


class StepReporter:
    """
    Counts a model's env steps and fires its callback at each of them, during one evaluation.

    :param model: the model whose ``num_timesteps`` counts the steps
    :param callback: the callback of ``learn``
    """

    def __init__(self, model: "BaseAlgorithm", callback: BaseCallback) -> None:
        self.model = model
        self.callback = callback

    def on_step(self, n_steps: int) -> bool:
        """
        A batched step of ``n_steps`` lanes on the VecEnv path (SB3 calls ``on_step`` once per batched step too).

        :return: False when the callback stops training
        """
        self.model.num_timesteps += n_steps
        return self.callback.on_step()

    def on_episodes(self, lengths: np.ndarray) -> bool:
        """
        Episodes that already ran elsewhere: their steps are replayed one by one, so that step-counting callbacks
        (``EvalCallback``'s ``eval_freq``, ``CheckpointCallback``'s ``save_freq``) fire as on the VecEnv path.

        :param lengths: the episodes' lengths
        :return: False when the callback stopped training (the steps after it are not counted)
        """
        if is_silent(self.callback):
            # Replaying would only count: counted at once, since a replayed step costs more than a compiled one.
            n_steps = int(lengths.sum())
            self.model.num_timesteps += n_steps
            count_steps(self.callback, n_steps, self.model.num_timesteps)
            return True
        bars = progress_bars(self.callback)
        surplus = self.model.env.num_envs - 1  # SB3's bar counts num_envs steps per call, here one step each
        for length in lengths.ravel():
            for bar in bars:
                if surplus:
                    bar.pbar.update(-surplus * int(length))
            if not all(self.on_step(1) for _ in range(int(length))):
                return False
        return True

    def on_invalid(self, network: int, step: int, what: str) -> None:
        """An env returned a non-finite value: warn once per model."""
        if not self.model._warned_invalid:
            self.model._warned_invalid = True
            warnings.warn(
                f"the env returned a non-finite {what} at step {step} of network {network}'s episode: "
                "that network gets the worst fitness (warned once)",
                stacklevel=2,
            )
