"""CoSyNE as a Stable-Baselines3 algorithm."""

import copy
import io
import json
import pathlib
import pickle
import sys
import time
import warnings
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.utils import safe_mean
from stable_baselines3.common.vec_env import VecEnvWrapper

from sb3_cosyne.core.strategy import CoSyNEStrategy, check_hyperparameters, sanitize_fitness
from sb3_cosyne.cosyne.evaluation import EvaluationResult, evaluate_networks
from sb3_cosyne.cosyne.evaluator import BaseEvaluator, EvaluationCall, evaluate_in_turn
from sb3_cosyne.cosyne.fast_path import CompiledRollout, compiled_rollout
from sb3_cosyne.cosyne.policies import CoSyNEPolicy, LinearPolicy, MlpPolicy, RecurrentPolicy
from sb3_cosyne.cosyne.spaces import check_spaces
from sb3_cosyne.cosyne.torch_forward import TorchForward, use_torch_forward

SelfCoSyNE = TypeVar("SelfCoSyNE", bound="CoSyNE")

#: Episode seeds are drawn below this bound (gymnasium accepts any non-negative int).
_SEED_BOUND = 2**31 - 1


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_evaluator(evaluator: Any) -> None:
    if evaluator is not None and not isinstance(evaluator, BaseEvaluator):
        raise ValueError(f"evaluator must be None or a BaseEvaluator (SubprocEvaluator, RayEvaluator), got {evaluator!r}")


def _progress_bars(callback: BaseCallback) -> list[ProgressBarCallback]:
    """The progress bars among the callbacks (nested in ``CallbackList`` or not)."""
    if isinstance(callback, CallbackList):
        return [bar for child in callback.callbacks for bar in _progress_bars(child)]
    return [callback] if isinstance(callback, ProgressBarCallback) else []


def _is_silent(callback: BaseCallback) -> bool:
    """Whether a step does nothing to the callback but count: SB3's stand-in for no callback, alone or in lists."""
    # Exact types: a subclass may do something at each step.
    if type(callback) is CallbackList:
        return all(_is_silent(child) for child in callback.callbacks)
    return type(callback) is ConvertCallback and callback.callback is None


def _count_steps(callback: BaseCallback, n_steps: int, num_timesteps: int) -> None:
    """Leave a silent callback (and its children) as ``n_steps`` calls of ``on_step`` would."""
    callback.n_calls += n_steps
    callback.num_timesteps = num_timesteps
    if type(callback) is CallbackList:
        for child in callback.callbacks:
            _count_steps(child, n_steps, num_timesteps)


class CoSyNE(BaseAlgorithm):
    """
    Cooperative Synapse NeuroEvolution (Gomez, Schmidhuber & Miikkulainen,
    "Accelerated Neural Evolution through Cooperatively Coevolved Synapses", JMLR 9, 2008).

    Every parameter of the policy network has its own subpopulation of ``pop_size`` values; network ``j``
    is made of the ``j``-th value of every subpopulation. Each generation (the paper's Algorithm 2):

    1. evaluate the ``pop_size`` networks, ``n_eval_episodes`` episodes each, batched over the env's lanes;
    2. keep the best network ever seen (the champion) for ``predict`` and ``save``: a generation's best
       replaces it only if it also beats it on ``champion_episodes`` fresh episodes run by both;
    3. recombine the top ``parent_fraction`` (one-point crossover per neuron, two children per mating),
       mutate the children (truncated Cauchy noise), and write them over the worst networks' weights;
    4. permute the weights within every subpopulation.

    :param policy: the policy, ``"MlpPolicy"``, ``"LinearPolicy"`` or a :class:`CoSyNEPolicy` subclass
    :param env: the env to learn from (a gymnasium id, env or VecEnv); each lane of a VecEnv runs its own network.
        An id is made without a render mode (pass ``gym.make(id, render_mode="rgb_array")`` to render)
    :param pop_size: number of networks per generation (``m``, the size of every subpopulation)
    :param parent_fraction: fraction of the networks that become parents (the paper's top quarter)
    :param mutation_prob: probability that a child's weight is perturbed (paper: 0.3)
    :param mutation_scale: scale of the Cauchy mutation noise, truncated at magnitude 10 (paper: 0.3)
    :param mutation_target: ``"offspring"`` mutates only the new children (the paper's Algorithm 2),
        ``"non_parents"`` every network but the parents (Gomez's reference code; fewer stalled runs on the pole tasks)
    :param permutation: ``"all"`` permutes every weight except the new children's (the paper's experiments),
        ``"proportional"`` marks weights with the probability of paper Eq. 1, ``"none"`` disables permutation
    :param n_eval_episodes: episodes per network per generation; its fitness is their mean return
    :param champion_episodes: fresh episodes on which a generation's best network and the champion are
        re-tested before the champion is replaced, so that a lucky episode cannot crown a network; 0 crowns
        the generation's best by its fitness alone (right for deterministic envs)
    :param shared_starts: evaluate every network of a generation from the same start states (common random
        numbers), which makes the comparison between networks fairer on envs with random starts
    :param init_scale: initial weights are drawn from ``U[-init_scale, init_scale]``. The paper draws from
        ``U[-10, 10]`` for networks of one to five neurons; for MLPs with normalised-scale inputs and tanh
        units, ``1.0`` keeps the first generation out of saturation while still spanning bang-bang controllers
    :param normalize_obs: normalise Box observations by running statistics (frozen within a generation and
        stored with the champion)
    :param fast_path: run whole episodes in one compiled loop when the env has a compiled port (the paper's
        pole-balancing envs, wrapped only by gymnasium's standard wrappers); returns are identical to the
        VecEnv path's, and callbacks' ``on_step`` is called once per env step too, after each episode has run
    :param batched_forward: how the VecEnv path runs all lanes' networks at each step: ``"numba"`` (on the CPU,
        bit-for-bit reproducible), ``"torch"`` (batched matrix products on ``device``, the networks evaluated
        moved there; for large policies on a GPU), or ``"auto"``: torch when ``device`` is CUDA and the policy has at least
        100,000 parameters, Numba otherwise. The torch forward turns the compiled fast path off
    :param stagnation: after this many generations without a better network, replace the population by a burst
        mutation around the best one (Gomez's reference code, not the paper's Algorithm 2); None never does
    :param burst_scale: scale of the burst mutation's Cauchy noise
    :param evaluator: where the networks' episodes run; None: on the lanes of ``env``; a
        :class:`~sb3_cosyne.SubprocEvaluator` runs them in worker processes on this machine, a
        :class:`~sb3_cosyne.RayEvaluator` on Ray actors, on one machine or a cluster; both hold their own env
        copies, run whole tasks of networks, and give the same fitness values as local evaluation (callbacks'
        ``on_step`` replays each episode's steps). Not saved: pass it again to ``load``
    :param policy_kwargs: keyword arguments of the policy (``net_arch``, ``activation_fn``, ``with_bias``)
    :param stats_window_size: number of episodes averaged in the ``rollout/`` logs
    :param tensorboard_log: directory of the tensorboard logs (None: no tensorboard)
    :param seed: seed of the random generator that drives every operator and every episode's start
    :param verbose: 0 silent, 1 logs every ``log_interval`` generations, 2 debug
    :param device: torch device of the policy
    :param _init_setup_model: whether to build the population and policy at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "LinearPolicy": LinearPolicy,
        "RecurrentPolicy": RecurrentPolicy,
    }
    policy: CoSyNEPolicy

    def __init__(
        self,
        policy: str | type[CoSyNEPolicy],
        env: GymEnv | str,
        pop_size: int = 20,
        parent_fraction: float = 0.25,
        mutation_prob: float = 0.3,
        mutation_scale: float = 0.3,
        mutation_target: str = "offspring",
        permutation: str = "all",
        n_eval_episodes: int = 1,
        champion_episodes: int = 3,
        shared_starts: bool = True,
        init_scale: float = 1.0,
        normalize_obs: bool = False,
        fast_path: bool = True,
        batched_forward: str = "auto",
        stagnation: int | None = None,
        burst_scale: float = 0.05,
        evaluator: BaseEvaluator | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        seed: int | None = None,
        verbose: int = 0,
        device: th.device | str = "cpu",
        _init_setup_model: bool = True,
    ) -> None:
        check_hyperparameters(
            pop_size,
            parent_fraction,
            mutation_prob,
            mutation_scale,
            permutation,
            init_scale,
            mutation_target,
            stagnation,
            burst_scale,
        )
        self.n_eval_episodes = _check_int("n_eval_episodes", n_eval_episodes, 1)
        self.champion_episodes = _check_int("champion_episodes", champion_episodes, 0)
        for name, value in (("shared_starts", shared_starts), ("normalize_obs", normalize_obs), ("fast_path", fast_path)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be a bool, got {value!r}")
        if env is not None:
            if isinstance(env, str):
                # SB3 would make it with render_mode="rgb_array", which has LunarLander simulate its decorative
                # exhaust particles: 3-4 times the cost of a step, for nothing during training.
                env = gym.make(env)
            # Check the spaces before SB3 does, so the error names the space and what is supported.
            check_spaces(env.observation_space, env.action_space)
        super().__init__(
            policy,
            env,
            learning_rate=0.0,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=True,
            seed=seed,
        )
        if isinstance(self.env, VecEnvWrapper):
            raise ValueError(
                f"CoSyNE runs its own lanes on the VecEnv and cannot see through the wrapper {type(self.env).__name__}: "
                "pass the env unwrapped and use normalize_obs=True instead of VecNormalize"
            )
        if normalize_obs and not isinstance(self.observation_space, spaces.Box):
            raise ValueError(f"normalize_obs=True needs a Box observation space, got {self.observation_space}")
        self.pop_size = pop_size
        self.parent_fraction = parent_fraction
        self.mutation_prob = mutation_prob
        self.mutation_scale = mutation_scale
        self.mutation_target = mutation_target
        self.permutation = permutation
        self.shared_starts = bool(shared_starts)
        self.init_scale = init_scale
        self.normalize_obs = bool(normalize_obs)
        self.fast_path = bool(fast_path)
        if batched_forward not in ("auto", "numba", "torch"):
            raise ValueError(f"batched_forward must be 'auto', 'numba' or 'torch', got {batched_forward!r}")
        self.batched_forward = batched_forward
        self._torch_forward: TorchForward | None = None
        self.stagnation = stagnation
        self.burst_scale = burst_scale
        _check_evaluator(evaluator)
        self.evaluator = evaluator
        self._compiled_rollout: CompiledRollout | None = None
        self.strategy: CoSyNEStrategy | None = None
        self.obs_rms: RunningMeanStd | None = None
        #: episodes evaluated so far, champion re-tests included
        self.num_evaluations = 0
        #: the champion's mean return over all its re-test episodes (-inf before the first generation)
        self.best_fitness = -np.inf
        self._champion_return_sum = 0.0
        self._champion_episode_count = 0
        #: num_timesteps when the last generation completed (what a save records)
        self._committed_timesteps = 0
        self._warned_invalid = False
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        # Runs again on load after the saved attributes are restored: only build what is missing.
        if not (isinstance(self.policy_class, type) and issubclass(self.policy_class, CoSyNEPolicy)):
            raise ValueError(
                f"CoSyNE needs a CoSyNEPolicy, got {self.policy_class!r}: a model saved by another algorithm "
                "cannot be loaded as CoSyNE"
            )
        self.set_random_seed(self.seed)
        try:
            self.policy = self.policy_class(
                self.observation_space, self.action_space, normalize_obs=self.normalize_obs, **self.policy_kwargs
            ).to(self.device)
        except TypeError as error:
            raise ValueError(f"invalid policy_kwargs {self.policy_kwargs}: {error}") from error
        if self.strategy is not None and self.strategy.population.shape != (self.policy.num_params, self.pop_size):
            raise ValueError(
                f"the saved population has shape {self.strategy.population.shape} but the policy needs "
                f"({self.policy.num_params}, {self.pop_size}): the save file is inconsistent"
            )
        if self.strategy is None:
            self.strategy = CoSyNEStrategy(
                self.policy.num_params,
                self.pop_size,
                segments=self.policy.segments,
                parent_fraction=self.parent_fraction,
                mutation_prob=self.mutation_prob,
                mutation_scale=self.mutation_scale,
                mutation_target=self.mutation_target,
                permutation=self.permutation,
                init_scale=self.init_scale,
                stagnation=self.stagnation,
                burst_scale=self.burst_scale,
                rng=np.random.default_rng(self.seed),
            )
            if self.normalize_obs:
                self.obs_rms = self._bounds_prior(self.observation_space)
            self.policy.set_flat_params(self.strategy.population[:, 0])

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """
        Save the model in SB3's zip format, population, champion and random generator included.

        A save during a generation (e.g. by ``CheckpointCallback``) records the model as it was when that
        generation started, step count included, so that loading it and training on repeats the generation
        exactly as an uninterrupted run did.

        :param path: file to save to (``.zip`` is added if missing)
        :param exclude: attributes not to save, on top of the default ones
        :param include: attributes to save that would be excluded by default
        """
        live_timesteps = self.num_timesteps
        self.num_timesteps = self._committed_timesteps
        try:
            super().save(path, exclude, include)
        finally:
            self.num_timesteps = live_timesteps

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfCoSyNE],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfCoSyNE:
        """
        Load a model saved by :meth:`save`; see ``BaseAlgorithm.load`` for the parameters.

        :raises ValueError: when the file is not a complete CoSyNE save (truncated, corrupt, another algorithm's)
            or its spaces do not match ``env``'s
        """
        try:
            return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        except (AssertionError, KeyError, EOFError, json.JSONDecodeError, pickle.UnpicklingError, RuntimeError) as error:
            raise ValueError(f"cannot load {path} as a CoSyNE model: {type(error).__name__}: {error}") from error

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_compiled_rollout", "_torch_forward", "evaluator"]

    @staticmethod
    def _bounds_prior(observation_space: spaces.Box) -> RunningMeanStd:
        """
        Observation statistics before any data: the centre and half-width of the space's finite bounds
        (0 and 1 where unbounded), so that the first generation already sees inputs of comparable
        scale. Their weight is negligible: the first generation's statistics replace them.
        """
        low = observation_space.low.reshape(-1).astype(np.float64)
        high = observation_space.high.reshape(-1).astype(np.float64)
        bounded = np.isfinite(low) & np.isfinite(high) & (high > low)
        rms = RunningMeanStd(shape=low.shape)
        rms.mean[bounded] = (low[bounded] + high[bounded]) / 2
        rms.var[bounded] = ((high[bounded] - low[bounded]) / 2) ** 2
        return rms

    @property
    def generation(self) -> int:
        """Number of completed generations."""
        return self.strategy.generation

    def champion_params(self) -> np.ndarray:
        """The champion's parameter vector (the network ``predict`` uses), in the chromosome layout."""
        return self.policy.get_flat_params()

    def _obs_stats(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.obs_rms is None:
            return None, None
        return self.obs_rms.mean.copy(), np.sqrt(self.obs_rms.var + 1e-8)

    def _evaluate(self, calls: list[EvaluationCall], callback: BaseCallback) -> list[EvaluationResult]:
        """
        Run the episodes of each call in turn (an evaluator runs them in one pass), counting steps and firing
        the callback at every step.

        :return: the results, ending with the first aborted one (the calls after it are not run)
        """

        def on_step(n_steps: int) -> bool:
            self.num_timesteps += n_steps
            return callback.on_step()

        def on_invalid(network: int, step: int, what: str) -> None:
            if not self._warned_invalid:
                self._warned_invalid = True
                warnings.warn(
                    f"the env returned a non-finite {what} at step {step} of network {network}'s episode: "
                    "that network gets the worst fitness (warned once)",
                    stacklevel=2,
                )

        def on_episodes(lengths: np.ndarray) -> bool:
            if _is_silent(callback):
                # Replaying would only count: counted at once, since a replayed step costs more than a compiled one.
                n_steps = int(lengths.sum())
                self.num_timesteps += n_steps
                _count_steps(callback, n_steps, self.num_timesteps)
                return True
            # The episodes are already over: callbacks replay their steps one by one, so that step-counting
            # callbacks (EvalCallback's eval_freq, CheckpointCallback's save_freq) fire as on the VecEnv path.
            bars = _progress_bars(callback)
            surplus = self.env.num_envs - 1  # SB3's bar counts num_envs steps per call, here one step each
            for length in lengths.ravel():
                for bar in bars:
                    if surplus:
                        bar.pbar.update(-surplus * int(length))
                if not all(on_step(1) for _ in range(int(length))):
                    return False
            return True

        def evaluate_here(call: EvaluationCall) -> EvaluationResult:
            if self._compiled_rollout is not None:
                result = self._compiled_rollout(self.policy, call.params, call.seeds, call.obs_stats)
                result.aborted = not on_episodes(result.lengths)
                return result
            return evaluate_networks(
                self.env, self.policy, call.params, call.seeds, call.obs_stats, on_step, on_invalid, self._torch_forward
            )

        if self.evaluator is not None:
            results = self.evaluator.evaluate_calls(calls, on_episodes, on_invalid)
        else:
            results = evaluate_in_turn(evaluate_here, calls)
        for result in results:
            self._update_info_buffer(
                [{"episode": {"r": r, "l": n}} for r, n in zip(result.returns.ravel(), result.lengths.ravel(), strict=True)]
            )
        return results

    def _retest(
        self, candidate: np.ndarray, rng: np.random.Generator, obs_stats: tuple, callback: BaseCallback
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """
        Run the candidate and the champion on the same fresh episodes.

        :return: the candidate's and the champion's returns (the latter empty without a champion),
            or None when a callback stopped training
        """
        seeds = rng.integers(0, _SEED_BOUND, size=(1, self.champion_episodes))
        calls = [EvaluationCall(candidate[None], seeds, obs_stats)]
        if self._champion_episode_count > 0:
            calls.append(EvaluationCall(self.champion_params()[None], seeds, self.policy.obs_stats()))
        results = self._evaluate(calls, callback)
        if results[-1].aborted:
            return None
        return results[0].returns[0], results[1].returns[0] if len(results) > 1 else np.empty(0)

    def _contest(
        self, candidate: np.ndarray, fitness: float, rng: np.random.Generator, obs_stats: tuple, callback: BaseCallback
    ) -> tuple[bool, tuple[float, int], int] | None:
        """
        Decide whether the generation's best network replaces the champion.

        :param candidate: the generation's best network
        :param fitness: its fitness this generation
        :return: whether it is crowned, the champion's new (return sum, episode count), and the number of
            re-test episodes run; None when a callback stopped training
        """
        keep = (self._champion_return_sum, self._champion_episode_count)
        if not np.isfinite(fitness):
            return False, keep, 0
        if self.champion_episodes == 0:
            return (True, (fitness, 1), 0) if fitness > self.best_fitness else (False, keep, 0)
        # ">=": a champion at the best score a network can get must keep facing re-tests, or it is never dethroned.
        if fitness < self.best_fitness:
            return False, keep, 0
        retest = self._retest(candidate, rng, obs_stats, callback)
        if retest is None:
            return None
        challenger, champion = retest
        n_retests = challenger.size + champion.size
        # A champion that breaks the env is dethroned by any finite challenger.
        keep = (keep[0] + float(champion.sum()), keep[1] + champion.size) if np.all(np.isfinite(champion)) else (0.0, 0)
        if np.all(np.isfinite(challenger)) and (keep[1] == 0 or challenger.mean() > keep[0] / keep[1]):
            return True, (float(challenger.sum()), challenger.size), n_retests
        return False, keep, n_retests

    def _run_generation(self, callback: BaseCallback) -> bool:
        """
        One generation of Algorithm 2. Nothing about the population, the champion or the random generator
        changes until the generation completes, so an interruption leaves the model as after the last one.

        :return: False when a callback stopped training
        """
        strategy = self.strategy
        rng = copy.deepcopy(strategy.rng)
        obs_stats = self._obs_stats()
        n_starts = 1 if self.shared_starts else strategy.pop_size
        seeds = np.broadcast_to(
            rng.integers(0, _SEED_BOUND, size=(n_starts, self.n_eval_episodes)), (strategy.pop_size, self.n_eval_episodes)
        )

        callback.on_rollout_start()
        candidates = strategy.ask()
        (result,) = self._evaluate([EvaluationCall(candidates, seeds, obs_stats)], callback)
        if result.aborted:
            return False
        fitness = result.returns.mean(axis=1)
        n_episodes = result.returns.size

        best = int(np.argmax(sanitize_fitness(fitness)))
        contest = self._contest(candidates[best], float(fitness[best]), rng, obs_stats, callback)
        if contest is None:
            return False
        crown, champion_update, n_retests = contest
        n_episodes += n_retests

        # Commit the generation.
        if crown:
            self.policy.set_flat_params(candidates[best])
            if obs_stats[0] is not None:
                self.policy.set_obs_stats(*obs_stats)
        self._champion_return_sum, self._champion_episode_count = champion_update
        self.best_fitness = (
            self._champion_return_sum / self._champion_episode_count if self._champion_episode_count > 0 else -np.inf
        )
        if self.obs_rms is not None and result.obs_count > 0:
            mean = result.obs_sum / result.obs_count
            var = np.maximum(result.obs_sq_sum / result.obs_count - mean**2, 0.0)
            self.obs_rms.update_from_moments(mean, var, result.obs_count)
        self.num_evaluations += n_episodes
        self._committed_timesteps = self.num_timesteps
        strategy.rng = rng
        strategy.tell(fitness)
        finite = fitness[np.isfinite(fitness)]
        self.logger.record("train/generation", strategy.generation)
        self.logger.record("train/evaluations", self.num_evaluations)
        self.logger.record("train/best_fitness", self.best_fitness)
        if finite.size:
            self.logger.record("rollout/gen_best", float(finite.max()))
            self.logger.record("rollout/gen_mean", float(finite.mean()))
            self.logger.record("rollout/gen_worst", float(finite.min()))
        callback.on_rollout_end()
        return True

    def learn(
        self: SelfCoSyNE,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "CoSyNE",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfCoSyNE:
        """
        Evolve the policy for ``total_timesteps`` env steps: generations run while fewer steps were taken,
        so the last generation may end past the budget by at most its own length.

        :param total_timesteps: env steps to train for (on top of the previous ones if ``reset_num_timesteps`` is False)
        :param callback: SB3 callback(s), called at every env step; returning False stops training at once
        :param log_interval: log every ``log_interval`` generations
        :param tb_log_name: name of the tensorboard run
        :param reset_num_timesteps: whether to restart the step count (and the logs) from zero
        :param progress_bar: display a progress bar (tqdm and rich)
        :return: the trained model
        """
        _check_evaluator(self.evaluator)
        if self.evaluator is not None:
            self.evaluator.setup(self.policy, self.fast_path)
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        self._committed_timesteps = self.num_timesteps
        self._torch_forward = (
            TorchForward(self.policy, self.env.num_envs, self.device)
            if use_torch_forward(self.batched_forward, self.device, self.policy.num_params, self.env.num_envs)
            else None
        )
        self._compiled_rollout = (
            compiled_rollout(self.env) if self.fast_path and self._torch_forward is None and self.evaluator is None else None
        )
        callback.on_training_start(locals(), globals())
        try:
            while self.num_timesteps < total_timesteps:
                self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
                if not self._run_generation(callback):
                    break
                if log_interval is not None and self.strategy.generation % log_interval == 0:
                    self.dump_logs()
        finally:
            callback.on_training_end()
        return self

    def dump_logs(self) -> None:
        """Write the logs of the last generation."""
        time_elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / time_elapsed)
        if len(self.ep_info_buffer) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([ep_info["r"] for ep_info in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([ep_info["l"] for ep_info in self.ep_info_buffer]))
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)
