"""CoSyNE as a Stable-Baselines3 algorithm."""

import copy
import io
import json
import math
import pathlib
import pickle
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.utils import safe_mean
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from sb3_cosyne.algorithm.callbacks import StepReporter, final_infos
from sb3_cosyne.algorithm.champion import Champion, HoldoutCheck, keeps_racing
from sb3_cosyne.algorithm.policies import CoSyNEPolicy, LinearPolicy, MlpPolicy, RecurrentPolicy
from sb3_cosyne.core.strategy import CoSyNEStrategy, check_hyperparameters, check_int, check_scale, sanitize_fitness
from sb3_cosyne.evaluation.evaluator import BaseEvaluator, EvaluationCall, evaluate_in_turn, tighter_cap
from sb3_cosyne.evaluation.fast_path import CompiledRollout, compiled_rollout
from sb3_cosyne.evaluation.lanes import evaluate_networks
from sb3_cosyne.evaluation.result import EvaluationResult
from sb3_cosyne.evaluation.subproc_evaluator import SubprocEvaluator, available_cpus
from sb3_cosyne.networks.spaces import check_spaces
from sb3_cosyne.networks.torch_forward import TorchForward, use_torch_forward

SelfCoSyNE = TypeVar("SelfCoSyNE", bound="CoSyNE")

#: Episode seeds are drawn below this bound (gymnasium accepts any non-negative int).
_SEED_BOUND = 2**31 - 1
#: the held-out seeds' random stream: ``default_rng([seed, _HOLDOUT_STREAM])``
_HOLDOUT_STREAM = 1


#: the model's settings that its strategy holds too (``CoSyNEStrategy.set_hyperparameters``' parameters)
_STRATEGY_SETTINGS = (
    "parent_fraction",
    "mutation_prob",
    "mutation_scale",
    "mutation_target",
    "permutation",
    "stagnation",
    "burst_scale",
)


def _make_if_id(env: GymEnv | str | None) -> GymEnv | None:
    """The env, made from its gymnasium id if given one, as the constructor and ``load`` take it."""
    if not isinstance(env, str):
        return env
    # SB3 would make it with render_mode="rgb_array", which has LunarLander simulate its decorative exhaust
    # particles: 3-4 times the cost of a step, for nothing during training.
    return gym.make(env)


def _auto_evaluator(env_id: str | None, env: VecEnv, fast_path: bool) -> BaseEvaluator | None:
    """
    What ``evaluator="auto"`` chooses: a ``SubprocEvaluator`` on every CPU this process may use, where that pays
    (more than one CPU, and an env stepped in Python rather than in a compiled rollout); otherwise None.

    :param env_id: the gymnasium id the model's env was made from (the workers make their own copies)
    :raises ValueError: when the env was not given as an id
    """
    if env_id is None:
        raise ValueError(
            'evaluator="auto" needs the env as a gymnasium id, from which each worker makes its own copy: pass '
            'CoSyNE(policy, "LunarLander-v3", evaluator="auto"), or a SubprocEvaluator with a function making your env'
        )
    if available_cpus() < 2 or (fast_path and compiled_rollout(env) is not None):
        return None
    return SubprocEvaluator(env_id)


def _check_cap_factor(factor: Any) -> float | None:
    """``episode_cap_factor`` as a float, or None."""
    if factor is None:
        return None
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.integer, np.floating)) or not factor > 1:
        raise ValueError(
            f"episode_cap_factor must be a number above 1 (2.0 cuts episodes at twice the previous generation's "
            f"mean length) or None, got {factor!r}"
        )
    return float(factor)


def _check_evaluator(evaluator: Any, env: GymEnv | None = None) -> None:
    if evaluator is not None and not isinstance(evaluator, BaseEvaluator):
        raise ValueError(
            f'evaluator must be None, "auto" or a BaseEvaluator (SubprocEvaluator, RayEvaluator), got {evaluator!r}'
        )
    if evaluator is not None and isinstance(env, VecEnvWrapper):
        raise ValueError(
            f"the evaluator's workers make their own envs, without the model's VecEnv wrapper {type(env).__name__}: "
            "pass the VecEnv unwrapped (use normalize_obs=True instead of VecNormalize), or train without an evaluator"
        )


@dataclass
class _Generation:
    """
    What a generation has evaluated, until it commits.

    :param rng: a copy of the strategy's random generator, which the generation draws from (it replaces the
        strategy's when the generation commits)
    :param obs_stats: the observation statistics the networks are evaluated with
    :param candidates: the networks, one per row
    """

    rng: np.random.Generator
    obs_stats: tuple[np.ndarray | None, np.ndarray | None]
    candidates: np.ndarray
    #: the cap on the population's episodes (None: none)
    episode_cap: int | None = None
    #: the population's episodes
    result: EvaluationResult | None = None
    #: each network's mean return
    fitness: np.ndarray | None = None
    #: the returns of the best network and of the champion on the re-test episodes (None: no re-test)
    challenger_returns: np.ndarray | None = None
    champion_returns: np.ndarray | None = None
    #: the held-out check of a challenger that won its re-test, and the number of its episodes
    holdout: HoldoutCheck | None = None
    holdout_count: int = 0
    #: env steps of the re-tests and the held-out check
    check_steps: int = 0

    @property
    def best(self) -> int:
        """The index of the generation's best network."""
        return int(np.argmax(sanitize_fitness(self.fitness)))

    def cut(self, network: int) -> bool:
        """Whether the cap cut an episode of ``network`` (whose fitness then only bounds its return from below)."""
        return self.episode_cap is not None and int(self.result.lengths[network].max()) >= self.episode_cap

    @property
    def n_episodes(self) -> int:
        """The episodes run, re-tests included."""
        retests = 0 if self.challenger_returns is None else self.challenger_returns.size + self.champion_returns.size
        return self.result.returns.size + retests + self.holdout_count


class CoSyNE(BaseAlgorithm):
    """
    Cooperative Synapse NeuroEvolution (Gomez, Schmidhuber & Miikkulainen,
    "Accelerated Neural Evolution through Cooperatively Coevolved Synapses", JMLR 9, 2008).

    Every parameter of the policy network has its own subpopulation of ``pop_size`` values; network ``j``
    is made of the ``j``-th value of every subpopulation. Each generation (the paper's Algorithm 2):

    1. evaluate the ``pop_size`` networks, ``n_eval_episodes`` episodes each, batched over the env's lanes;
    2. keep the best network ever seen (the champion) for ``predict`` and ``save``: a generation's best
       replaces it only if it also beats it on ``champion_episodes`` fresh episodes run by both (and, with
       ``holdout_episodes``, on the held-out episodes);
    3. recombine the top ``parent_fraction`` (one-point crossover per neuron, two children per mating),
       mutate the children (truncated Cauchy noise), and write them over the worst networks' weights;
    4. permute the weights within every subpopulation.

    :param policy: the policy, ``"MlpPolicy"``, ``"LinearPolicy"``, ``"RecurrentPolicy"`` or a :class:`CoSyNEPolicy`
        subclass
    :param env: the env to learn from (a gymnasium id, env or VecEnv); each lane of a VecEnv runs its own network.
        An id is made without a render mode (pass ``gym.make(id, render_mode="rgb_array")`` to render). A VecEnv
        under VecEnv wrappers (``VecNormalize``, ``VecFrameStack``, ``VecMonitor``, ...) is stepped through them, its
        lanes resetting themselves, so that ``shared_starts`` does not apply; fitness counts the env's own rewards
        (before ``VecNormalize`` scales them) and the networks see the wrapped observations, as PPO's would
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
    :param max_champion_episodes: the champion plays each re-test beside the challenger until its record holds
        this many episodes; from then on its mean is known well enough, and a challenger's re-test is compared
        with it alone, for half the re-test's steps. None: the champion plays every re-test
    :param holdout_episodes: held-out episodes (the same for every network, never used for fitness) on which a
        challenger that won its re-test must also beat the champion before it is crowned; their mean is logged as
        ``train/champion_holdout``. On noisy tasks it makes the network ``learn`` returns one that holds on fresh
        episodes, for the price of these episodes when a challenger wins its re-test. 0: no held-out check
    :param holdout_blocks: play the held-out episodes in this many blocks, the challenger stopping (not crowned)
        after a block that leaves it behind the champion on the episodes played so far: a challenger that is no
        better then costs a fraction of the check. 1: all at once
    :param holdout_refresh: draw a new held-out set after this many challengers have played the current one, the
        champion playing it beside the next challenger. On one set for the whole training, the champion's score
        there is the best of many tries and reads above what it scores on fresh episodes, so that better networks
        found later cannot beat it; on new sets a worse challenger that wins one check by luck can replace it,
        unless ``holdout_margin`` asks for a clear lead. None: one set for the whole training
    :param holdout_margin: the lead over the champion a challenger needs on the held-out episodes, in standard errors
        of their paired difference: a challenger that is no better then rarely wins by luck. 0: any lead
    :param shared_starts: evaluate every network of a generation from the same start states (common random
        numbers), which makes the comparison between networks fairer on envs with random starts (not under VecEnv
        wrappers, whose lanes reset themselves)
    :param init_scale: initial weights are drawn from ``U[-init_scale, init_scale]``. The paper draws from
        ``U[-10, 10]`` for networks of one to five neurons; for MLPs with normalised-scale inputs and tanh
        units, ``1.0`` keeps the first generation out of saturation while still spanning bang-bang controllers
    :param normalize_obs: normalise Box observations by running statistics (frozen within a generation and
        stored with the champion)
    :param fast_path: run whole episodes in one compiled loop when the env has a compiled port (the paper's
        pole-balancing envs and gymnasium's CartPole, Acrobot, MountainCar, MountainCarContinuous and Pendulum,
        wrapped only by the standard wrappers); returns are identical to the VecEnv path's, and callbacks'
        ``on_step`` is called once per env step too, after each episode has run
    :param batched_forward: how the VecEnv path runs all lanes' networks at each step: ``"numba"`` (on the CPU,
        bit-for-bit reproducible), ``"torch"`` (batched matrix products on ``device``, the networks evaluated
        moved there; for large policies on a GPU), or ``"auto"``: torch when ``device`` is CUDA and the lanes
        times the policy's parameters reach ``TORCH_MIN_LANE_PARAMS`` (:mod:`sb3_cosyne.networks.torch_forward`),
        Numba otherwise. The torch forward turns the compiled fast path off
    :param max_episode_steps: the episode cap: an episode that has not ended after this many steps is cut there,
        so that an env whose episodes never end cannot hang ``learn`` (cuts in an env without gymnasium's
        ``TimeLimit`` are warned about). Below the env's own time limit it makes ``learn`` play only the first
        steps of every episode, re-tests and held-out check included, for tasks whose return is decided early
        (Pendulum's swing-up); ``predict`` and other evaluations are not cut. None: no cap
    :param episode_cap_factor: cut a generation's episodes at this multiple of the previous generation's mean
        episode length (estool's cap), for envs where hovering or standing still burns steps for nothing. The
        re-tests and the held-out check play whole episodes, and a generation's best network is re-tested whenever
        the cap cut it (its fitness is then a lower bound), so it needs ``champion_episodes > 0``. The cap is logged
        as ``train/episode_cap``, the episodes it cut as ``train/capped_episodes``. Must be above 1 (at 1 the cap
        could only shrink). None: no cap
    :param stagnation: after this many generations without a better network, replace the population by a burst
        mutation around the best one (Gomez's reference code, not the paper's Algorithm 2); None never does. Both
        go by the networks' fitness in a generation: on noisy tasks the best is often a lucky one, not the champion
    :param burst_scale: scale of the burst mutation's Cauchy noise
    :param evaluator: where the networks' episodes run; None: on the lanes of ``env``; ``"auto"``: in worker
        processes on every CPU this process may use when there are several and the env is stepped in Python
        (``env`` given as an id), else on the lanes of ``env``; a
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
        holdout_episodes: int = 0,
        holdout_blocks: int = 1,
        holdout_refresh: int | None = None,
        holdout_margin: float = 0.0,
        max_champion_episodes: int | None = None,
        shared_starts: bool = True,
        init_scale: float = 1.0,
        normalize_obs: bool = False,
        fast_path: bool = True,
        batched_forward: str = "auto",
        max_episode_steps: int | None = 100_000,
        episode_cap_factor: float | None = None,
        stagnation: int | None = None,
        burst_scale: float = 0.05,
        evaluator: BaseEvaluator | str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        seed: int | None = None,
        verbose: int = 0,
        device: th.device | str = "cpu",
        _init_setup_model: bool = True,
    ) -> None:
        check_hyperparameters(
            pop_size=pop_size,
            parent_fraction=parent_fraction,
            mutation_prob=mutation_prob,
            mutation_scale=mutation_scale,
            permutation=permutation,
            init_scale=init_scale,
            mutation_target=mutation_target,
            stagnation=stagnation,
            burst_scale=burst_scale,
        )
        self.n_eval_episodes = n_eval_episodes
        self.max_episode_steps = max_episode_steps
        self.episode_cap_factor = episode_cap_factor
        self.champion_episodes = champion_episodes
        self.holdout_episodes = holdout_episodes
        self.holdout_blocks = holdout_blocks
        self.holdout_refresh = holdout_refresh
        self.holdout_margin = holdout_margin
        self.max_champion_episodes = max_champion_episodes
        self._check_episode_settings()
        for name, value in (("shared_starts", shared_starts), ("normalize_obs", normalize_obs), ("fast_path", fast_path)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be a bool, got {value!r}")
        #: the gymnasium id the env was made from (None: given as an env), from which evaluator="auto" makes workers
        self.env_id = env if isinstance(env, str) else None
        env = _make_if_id(env)
        if env is not None:
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
        if self.holdout_episodes and isinstance(self.env, VecEnvWrapper):
            raise ValueError(
                f"holdout_episodes needs episodes that start from their own seeds, which the lanes of the VecEnv wrapper "
                f"{type(self.env).__name__} cannot give: pass the VecEnv unwrapped (normalize_obs=True instead of "
                "VecNormalize), or set holdout_episodes=0"
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
        self.evaluator = evaluator
        self._owns_evaluator = False
        self._resolve_evaluator()
        self._compiled_rollout: CompiledRollout | None = None
        self.strategy: CoSyNEStrategy | None = None
        self.obs_rms: RunningMeanStd | None = None
        #: episodes evaluated so far, champion re-tests included
        self.num_evaluations = 0
        #: env steps spent so far on the champion's re-tests and held-out checks (the rest went to the population)
        self.check_timesteps = 0
        #: the re-test record of the network ``predict`` uses
        self.champion = Champion()
        self._holdout_seeds: np.ndarray | None = None
        #: how many held-out sets were drawn before the current one, and how many challengers played it
        self._holdout_set = 0
        self._holdout_set_checks = 0
        #: the cap on the next generation's episodes (``episode_cap_factor``; None: none)
        self._episode_cap: int | None = None
        #: num_timesteps when the last generation completed (what a save records)
        self._committed_timesteps = 0
        self._warned_invalid = False
        self._warned_cut = False
        #: whether every lane of the env has gymnasium's TimeLimit (then the cap's cuts are chosen, not warned about)
        self._env_time_limited = False
        if _init_setup_model:
            self._setup_model()

    def _check_episode_settings(self) -> None:
        """
        Check the settings of the generations' episodes and the champion's checks (also those ``load`` was given),
        storing them as plain ints and floats.

        :raises ValueError: naming the offending setting
        """
        self.n_eval_episodes = check_int("n_eval_episodes", self.n_eval_episodes, 1)
        if self.max_episode_steps is not None:
            self.max_episode_steps = check_int("max_episode_steps", self.max_episode_steps, 1)
        self.episode_cap_factor = _check_cap_factor(self.episode_cap_factor)
        self.champion_episodes = check_int("champion_episodes", self.champion_episodes, 0)
        self.holdout_episodes = check_int("holdout_episodes", self.holdout_episodes, 0)
        self.holdout_blocks = check_int("holdout_blocks", self.holdout_blocks, 1)
        if self.holdout_blocks > max(self.holdout_episodes, 1):
            raise ValueError(
                f"holdout_blocks={self.holdout_blocks} splits holdout_episodes={self.holdout_episodes} into empty "
                "blocks: give at most one block per held-out episode"
            )
        if self.holdout_refresh is not None:
            self.holdout_refresh = check_int("holdout_refresh", self.holdout_refresh, 1)
            if not self.holdout_episodes:
                raise ValueError("holdout_refresh needs holdout_episodes > 0 (a held-out set to refresh), or set it to None")
        self.holdout_margin = check_scale("holdout_margin", self.holdout_margin)
        if self.holdout_margin and not self.holdout_episodes:
            raise ValueError("holdout_margin needs holdout_episodes > 0 (the episodes it applies to), or set it to 0")
        if self.max_champion_episodes is not None:
            self.max_champion_episodes = check_int("max_champion_episodes", self.max_champion_episodes, 1)
        if self.episode_cap_factor is not None and not self.champion_episodes:
            raise ValueError(
                "episode_cap_factor needs champion_episodes > 0: the champion is chosen on whole episodes, in its "
                "re-tests, while the cap makes the fitness of cut networks a lower bound"
            )
        if self.holdout_episodes and not self.champion_episodes:
            raise ValueError(
                "holdout_episodes needs champion_episodes > 0: the held-out check follows a challenger's re-test "
                "(champion_episodes=0 crowns by fitness alone, for deterministic envs)"
            )

    def _resolve_evaluator(self) -> None:
        """Check the evaluator, making the one ``"auto"`` stands for (also when given to ``load``)."""
        if isinstance(self.evaluator, str):
            if self.evaluator != "auto":
                raise ValueError(f'evaluator must be None, "auto" or a BaseEvaluator, got {self.evaluator!r}')
            self.evaluator = _auto_evaluator(self.env_id, self.env, self.fast_path)
            # The model made these workers: it stops them at the end of each learn (the next one starts them again).
            self._owns_evaluator = self.evaluator is not None
        _check_evaluator(self.evaluator, self.env)

    def _setup_model(self) -> None:
        # Runs again on load after the saved attributes are restored: only build what is missing.
        self._load_legacy_champion()
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
        if self.strategy is not None:
            self._continue_population()
        else:
            self.strategy = CoSyNEStrategy(
                self.policy.num_free_params,
                self.pop_size,
                segments=self.policy.free_segments,
                init_scale=self.init_scale,
                rng=np.random.default_rng(self.seed),
                **self._strategy_hyperparameters(),
            )
            if self.normalize_obs:
                self.obs_rms = self._bounds_prior(self.observation_space)
            self.policy.set_flat_params(self.policy.expand(self.strategy.population[:, 0]))

    def _strategy_hyperparameters(self) -> dict[str, Any]:
        """The model's settings that the strategy's generations use."""
        return {name: getattr(self, name) for name in _STRATEGY_SETTINGS}

    def _continue_population(self) -> None:
        """
        On load: check the saved population against the policy, and give the strategy the model's settings, which
        ``load``'s keyword arguments may have changed (``CoSyNE.load(path, mutation_scale=0.1)``, as SB3 models
        take a new ``learning_rate``).
        """
        saved = self.strategy.pop_size
        if self.pop_size != saved:
            raise ValueError(
                f"pop_size={self.pop_size} differs from the saved population's {saved} networks: a loaded model goes on "
                f"with its population, so load it without pop_size (or train a new model with pop_size={self.pop_size})"
            )
        if self.strategy.population.shape != (self.policy.num_free_params, self.pop_size):
            raise ValueError(
                f"the saved population has shape {self.strategy.population.shape} but the policy needs "
                f"({self.policy.num_free_params}, {self.pop_size}): the save file is inconsistent"
            )
        self.strategy.set_hyperparameters(**self._strategy_hyperparameters())
        self._check_episode_settings()

    def _load_legacy_champion(self) -> None:
        """Models saved before the champion had a record of its own kept it in loose attributes."""
        return_sum = self.__dict__.pop("_champion_return_sum", None)
        episode_count = self.__dict__.pop("_champion_episode_count", None)
        self.__dict__.pop("best_fitness", None)
        if episode_count is not None:
            self.champion = Champion(return_sum, episode_count)

    @property
    def best_fitness(self) -> float:
        """The champion's mean return over all its re-test episodes (-inf before the first generation)."""
        return self.champion.mean

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

        :param env: the env to go on learning in: an env, a VecEnv or, as at construction, a gymnasium id (made
            without a render mode, and the id ``evaluator="auto"`` then gives its workers)
        :raises ValueError: when the file is not a complete CoSyNE save (truncated, corrupt, another algorithm's)
            or its spaces do not match ``env``'s
        """
        env_id = env if isinstance(env, str) else None
        try:
            model = super().load(path, _make_if_id(env), device, custom_objects, print_system_info, force_reset, **kwargs)
        except (AssertionError, KeyError, EOFError, json.JSONDecodeError, pickle.UnpicklingError, RuntimeError) as error:
            raise ValueError(f"cannot load {path} as a CoSyNE model: {type(error).__name__}: {error}") from error
        if env_id is not None:
            model.env_id = env_id
        return model

    def _excluded_save_params(self) -> list[str]:
        # What learn derives from the env (or is given at run time) is not the model's to save.
        runtime = ["_compiled_rollout", "_torch_forward", "_env_time_limited", "evaluator", "_owns_evaluator"]
        return [*super()._excluded_save_params(), *runtime]

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
        steps = StepReporter(self, callback)
        if self.evaluator is not None:
            results = self.evaluator.evaluate_calls(calls, steps.on_episodes, steps.on_invalid)
        else:
            results = evaluate_in_turn(lambda call: self._evaluate_here(call, steps), calls)
        for call, result in zip(calls, results, strict=False):
            infos = final_infos(result)
            self._update_info_buffer(infos, dones=np.ones(len(infos), dtype=bool))
            # The training cap cuts episodes on purpose (logged by the generation), and so does the model's cap
            # below the env's own time limit; the model's cap warns where episodes would never end.
            if result.cut_episodes and not self._env_time_limited and not self._below_model_cap(call.max_steps):
                steps.on_cut(result.cut_episodes)
        return results

    def _below_model_cap(self, max_steps: int | None) -> bool:
        """Whether a call's own cap cuts episodes before ``max_episode_steps`` would."""
        return max_steps is not None and (self.max_episode_steps is None or max_steps < self.max_episode_steps)

    def _evaluate_here(self, call: EvaluationCall, steps: StepReporter) -> EvaluationResult:
        """Run a call's episodes in this process: in one compiled loop if the env has one, else on the env's lanes."""
        network = self.policy.network
        if self._compiled_rollout is not None:
            result = self._compiled_rollout(network, call.params, call.seeds, call.obs_stats, call.max_steps)
            result.aborted = not steps.on_episodes(result)
            return result
        return evaluate_networks(
            self.env,
            network,
            call.params,
            call.seeds,
            call.obs_stats,
            on_step=steps.on_step,
            on_invalid=steps.on_invalid,
            torch_forward=self._torch_forward,
            max_episode_steps=tighter_cap(self.max_episode_steps, call.max_steps),
        )

    def _episode_seeds(self, rng: np.random.Generator) -> np.ndarray:
        """The reset seeds of a generation's episodes, one row per network: the same starts for all with ``shared_starts``."""
        n_starts = 1 if self.shared_starts else self.pop_size
        seeds = rng.integers(0, _SEED_BOUND, size=(n_starts, self.n_eval_episodes))
        return np.broadcast_to(seeds, (self.pop_size, self.n_eval_episodes))

    def _run_generation(self, callback: BaseCallback) -> bool:
        """
        One generation of Algorithm 2, as a transaction: nothing about the population, the champion or the random
        generator changes until the generation commits, so an interruption leaves the model as after the last one.

        :return: False when a callback stopped training
        """
        rng = copy.deepcopy(self.strategy.rng)
        obs_stats = self._obs_stats()
        seeds = self._episode_seeds(rng)
        callback.on_rollout_start()
        generation = _Generation(rng, obs_stats, self.policy.expand(self.strategy.ask()), self._episode_cap)
        call = EvaluationCall(generation.candidates, seeds, obs_stats, generation.episode_cap)
        (generation.result,) = self._evaluate([call], callback)
        if generation.result.aborted:
            return False
        generation.fitness = generation.result.returns.mean(axis=1)
        if not self._retest(generation, callback):
            return False
        self._commit(generation)
        self._log_generation(generation)
        callback.on_rollout_end()
        return True

    def _retest(self, generation: _Generation, callback: BaseCallback) -> bool:
        """
        Run the generation's best network and the champion on the same fresh episodes, if the best may be crowned.

        :return: False when a callback stopped training
        """
        best = generation.best
        # A network the cap cut may be better than its fitness says: its re-test plays whole episodes.
        if not (generation.cut(best) or self.champion.needs_retest(float(generation.fitness[best]), self.champion_episodes)):
            return True
        seeds = generation.rng.integers(0, _SEED_BOUND, size=(1, self.champion_episodes))
        calls = [EvaluationCall(generation.candidates[best][None], seeds, generation.obs_stats)]
        if self.champion.exists and self._champion_replays():
            calls.append(EvaluationCall(self.champion_params()[None], seeds, self.policy.obs_stats()))
        results = self._evaluate(calls, callback)
        if results[-1].aborted:
            return False
        generation.check_steps += sum(int(result.lengths.sum()) for result in results)
        generation.challenger_returns = results[0].returns[0]
        generation.champion_returns = results[1].returns[0] if len(results) > 1 else np.empty(0)
        if self.holdout_episodes and self.champion.wins_retest(generation.challenger_returns, generation.champion_returns):
            return self._holdout_check(generation, callback)
        return True

    def _champion_replays(self) -> bool:
        """Whether the champion plays the re-test: until its record holds ``max_champion_episodes`` episodes."""
        return self.max_champion_episodes is None or self.champion.episode_count < self.max_champion_episodes

    def _holdout_check(self, generation: _Generation, callback: BaseCallback) -> bool:
        """
        Run the challenger on the held-out episodes, block by block (``holdout_blocks``), while it keeps level
        with the champion on the episodes played so far; and the champion on all of them, beside the first block,
        if its returns are not known.

        :return: False when a callback stopped training
        """
        seeds = self.holdout_seeds()
        challenger = generation.candidates[generation.best][None]
        champion_returns = self.champion.holdout_returns
        measure_champion = self.champion.exists and not self.champion.holdout_known
        check = HoldoutCheck(np.empty(0), margin=self.holdout_margin)
        for block in np.array_split(seeds, self.holdout_blocks):
            calls = [EvaluationCall(challenger, block[None], generation.obs_stats)]
            if measure_champion and check.champion is None:
                calls.append(EvaluationCall(self.champion_params()[None], seeds[None], self.policy.obs_stats()))
            results = self._evaluate(calls, callback)
            if results[-1].aborted:
                return False
            generation.holdout_count += sum(result.returns.size for result in results)
            generation.check_steps += sum(int(result.lengths.sum()) for result in results)
            check.challenger = np.concatenate([check.challenger, results[0].returns[0]])
            if len(results) > 1:
                champion_returns = check.champion = results[1].returns[0]
            if not keeps_racing(check.challenger, champion_returns):
                check.stopped = True
                break
        generation.holdout = check
        return True

    def holdout_seeds(self) -> np.ndarray:
        """
        The reset seeds of the held-out episodes: drawn from the model's seed (and the set's number, with
        ``holdout_refresh``), apart from the stream the training episodes' seeds come from, and saved with the model.
        """
        if self._holdout_seeds is None or self._holdout_seeds.size != self.holdout_episodes:
            # The first set keeps the key it had before sets were refreshed, so that earlier runs repeat exactly.
            key = [_HOLDOUT_STREAM] + ([self._holdout_set] if self._holdout_set else [])
            rng = np.random.default_rng(None if self.seed is None else [self.seed, *key])
            self._holdout_seeds = rng.integers(0, _SEED_BOUND, size=self.holdout_episodes)
        return self._holdout_seeds

    def _commit(self, generation: _Generation) -> None:
        """Apply a completed generation: the champion contest, the observation statistics, the strategy's step."""
        best = generation.best
        crowned = self.champion.contest(
            float(generation.fitness[best]),
            self.champion_episodes,
            generation.challenger_returns,
            generation.champion_returns,
            generation.holdout,
        )
        if crowned:
            self.policy.set_flat_params(generation.candidates[best])
            if generation.obs_stats[0] is not None:
                self.policy.set_obs_stats(*generation.obs_stats)
        if generation.holdout is not None:
            self._count_holdout_check()
        result = generation.result
        if self.obs_rms is not None and result.obs_count > 0:
            mean = result.obs_sum / result.obs_count
            var = np.maximum(result.obs_sq_sum / result.obs_count - mean**2, 0.0)
            self.obs_rms.update_from_moments(mean, var, result.obs_count)
        self.num_evaluations += generation.n_episodes
        self.check_timesteps += generation.check_steps
        self._episode_cap = self._next_episode_cap(result)
        self._committed_timesteps = self.num_timesteps
        self.strategy.rng = generation.rng
        self.strategy.tell(generation.fitness)

    def _count_holdout_check(self) -> None:
        """
        Count a challenger's held-out check; after ``holdout_refresh`` of them, draw a new set and forget the
        champion's returns on the old one (it plays the new set beside the next challenger).
        """
        self._holdout_set_checks += 1
        if self.holdout_refresh is None or self._holdout_set_checks < self.holdout_refresh:
            return
        self._holdout_set += 1
        self._holdout_set_checks = 0
        self._holdout_seeds = None
        self.champion.forget_holdout()

    def _next_episode_cap(self, result: EvaluationResult) -> int | None:
        """The cap on the next generation's episodes: ``episode_cap_factor`` times this generation's mean length."""
        if self.episode_cap_factor is None:
            return None
        return math.ceil(self.episode_cap_factor * float(result.lengths.mean()))

    def _log_generation(self, generation: _Generation) -> None:
        """Record a completed generation's numbers in the logger."""
        fitness = generation.fitness
        finite = fitness[np.isfinite(fitness)]
        self.logger.record("train/generation", self.strategy.generation)
        self.logger.record("train/evaluations", self.num_evaluations)
        self.logger.record("train/check_timesteps", self.check_timesteps)
        self.logger.record("train/best_fitness", self.best_fitness)
        if np.isfinite(self.champion.holdout):
            self.logger.record("train/champion_holdout", self.champion.holdout)
        if generation.episode_cap is not None:
            self.logger.record("train/episode_cap", generation.episode_cap)
            capped = generation.result.cut_episodes if self._below_model_cap(generation.episode_cap) else 0
            self.logger.record("train/capped_episodes", capped)
        if finite.size:
            self.logger.record("rollout/gen_best", float(finite.max()))
            self.logger.record("rollout/gen_mean", float(finite.mean()))
            self.logger.record("rollout/gen_worst", float(finite.min()))

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
        if self.env is None:
            raise ValueError(
                "this model has no env to learn from (loaded without one): pass it to load, "
                "CoSyNE.load(path, env=env), or call model.set_env(env) before learn"
            )
        self._resolve_evaluator()
        if self.evaluator is not None:
            self.evaluator.setup(self.policy.network, self.fast_path, self.max_episode_steps)
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        self._committed_timesteps = self.num_timesteps
        self._env_time_limited = all(self.env.env_is_wrapped(gym.wrappers.TimeLimit))
        self._torch_forward = (
            TorchForward(self.policy.network, self.env.num_envs, self.device)
            if use_torch_forward(self.batched_forward, self.device, self.policy.num_params, self.env.num_envs)
            else None
        )
        self._compiled_rollout = (
            compiled_rollout(self.env, self.max_episode_steps)
            if self.fast_path and self._torch_forward is None and self.evaluator is None
            else None
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
            if self._owns_evaluator:
                self.evaluator.close()
        return self

    def dump_logs(self) -> None:
        """Write the logs of the last generation."""
        time_elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / time_elapsed)
        if len(self.ep_info_buffer) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([ep_info["r"] for ep_info in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([ep_info["l"] for ep_info in self.ep_info_buffer]))
        if len(self.ep_success_buffer) > 0:
            self.logger.record("rollout/success_rate", safe_mean(self.ep_success_buffer))
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)
