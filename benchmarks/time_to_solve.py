"""
Time-to-solve benchmark: CoSyNE against CMA-ES, ARS and PPO on classic-control and Box2D tasks.

Every (env, algo, seed) run trains in its own subprocess restricted to one thread and is timed with
process CPU time and wall time, both paused while the policy is evaluated. Every 0.1% of the env's
step budget (``EVAL_FRACTIONS`` lists the envs checked less often) the current policy plays 10
deterministic episodes (seeds 10_000 + i) on a separate env; the paper's pole-balancing envs start from
one state, so there one episode of 100,000 steps is the whole evaluation. The first time the mean reaches
the env's threshold the run is solved, the solving policy is scored on 50 fresh episodes (seeds
20_000 + i) and training stops; with ``--confirm`` it is solved only once those 50 episodes reach the
threshold too, and training goes on until they do.

Usage::

    python -m benchmarks.time_to_solve --envs CartPole-v1 Acrobot-v1 --algos cosyne cmaes ars ppo \\
        --seeds 5 --max-cpu 120 --jobs 2 --json results.json --markdown results.md [--resume] [--cold] \\
        [--confirm] [--summary]

``--summary`` writes one table per algorithm with a row per env instead of one table per env.
"""

import argparse
import importlib
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import yaml
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

REPO_ROOT = Path(__file__).resolve().parents[1]
# The paper's pole-balancing tasks: solved when one episode from their single start state lasts 100,000 steps.
POLE_ENVS = tuple(f"sb3_cosyne/{name}-v0" for name in ("SinglePole", "SinglePoleNoVel", "DoublePole", "DoublePoleNoVel"))
# Mean evaluation return that counts as solved: the env's reward_threshold (gymnasium's spec; Pendulum has none).
THRESHOLDS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "MountainCar-v0": -110.0,
    "MountainCarContinuous-v0": 90.0,
    "Pendulum-v1": -200.0,
    "LunarLander-v3": 200.0,
    "LunarLanderContinuous-v3": 200.0,
    "BipedalWalker-v3": 300.0,
    **dict.fromkeys(POLE_ENVS, 100_000.0),
}
# The envs compared across algorithms by default.
COMPARISON_ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCarContinuous-v0", "Pendulum-v1", "LunarLander-v3")
# Training env steps after which a run counts as not solved: the n_timesteps of CoSyNE's tuned entries (read without
# importing sb3_cosyne, whose import is timed apart).
BUDGETS: dict[str, int] = {
    env_id: int(entry["n_timesteps"])
    for env_id, entry in yaml.safe_load((REPO_ROOT / "sb3_cosyne" / "hyperparams" / "cosyne.yml").read_text()).items()
}
# Evaluate less often where evaluation episodes are long and slow (Box2D, up to 1,600 steps), so that they do not
# dominate the benchmark's wall time.
EVAL_FRACTIONS: dict[str, float] = {"LunarLanderContinuous-v3": 0.002, "BipedalWalker-v3": 0.01}
# Hidden layer sizes of the CMA-ES network, meant to match CoSyNE's default policy.
CMA_NET_ARCH: list[int] = [8]
CMA_SIGMA0 = 0.5

ALGOS = ("cosyne", "cmaes", "ars", "ppo")
# Module imported (and timed separately) before the training clock starts.
ALGO_MODULES = {"cosyne": "sb3_cosyne", "cmaes": "cma", "ars": "sb3_contrib", "ppo": "stable_baselines3.ppo"}
EVAL_FRACTION = 0.001
EVAL_EPISODES, EVAL_SEED = 10, 10_000
FINAL_EPISODES, FINAL_SEED = 50, 20_000
# Deterministic envs (one start state): one episode is the whole evaluation.
DETERMINISTIC_EPISODES = 1
# numpy wheels use OpenBLAS, hence OPENBLAS_NUM_THREADS on top of the OpenMP/MKL/Numba variables;
# hiding GPUs keeps every algorithm on the same single CPU core.
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "CUDA_VISIBLE_DEVICES": "",
}
ZOO_SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf", "delta_std")
ZOO_IGNORED_KEYS = ("n_timesteps", "callback")
ZOO_UNSUPPORTED_KEYS = ("frame_stack", "env_wrapper", "vec_env_wrapper", "env_kwargs", "monitor_kwargs")

# Maps a single observation, and whether it starts an episode (recurrent policies reset their memory), to an action.
Policy = Callable[[np.ndarray, bool], Any]


class _Solved(Exception):  # noqa: N818 (control flow, not an error)
    """Raised from inside training once the evaluated policy reaches the threshold (ARS ignores ``False`` from callbacks)."""


class _OutOfTime(Exception):  # noqa: N818 (control flow, not an error)
    """Raised from inside training once the training CPU time exceeds the cap."""


class Stopwatch:
    """Process CPU time and wall time that can be paused, so that evaluation is not charged to training."""

    def __init__(self) -> None:
        self._cpu = 0.0
        self._wall = 0.0
        self._since: tuple[float, float] | None = None

    def resume(self) -> None:
        """Start (or restart) counting."""
        self._since = (time.process_time(), time.perf_counter())

    def pause(self) -> None:
        """Stop counting, keeping the time accumulated so far."""
        self._cpu, self._wall = self.elapsed()
        self._since = None

    def elapsed(self) -> tuple[float, float]:
        """
        :return: accumulated (CPU seconds, wall seconds) while running
        """
        if self._since is None:
            return self._cpu, self._wall
        return self._cpu + time.process_time() - self._since[0], self._wall + time.perf_counter() - self._since[1]


def play_episode(policy: Policy, env: gym.Env, seed: int) -> tuple[float, int]:
    """
    Play one episode.

    :param policy: maps a single observation and whether it is the episode's first to an action
    :param env: gymnasium env (not vectorized)
    :param seed: seed of the reset
    :return: undiscounted return and number of steps
    """
    obs, _ = env.reset(seed=seed)
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs, steps == 0))
        total += float(reward)
        steps += 1
        done = terminated or truncated
    return total, steps


def evaluate(policy: Policy, env: gym.Env, first_seed: int, n_episodes: int) -> float:
    """
    Mean return over episodes with fixed, consecutive reset seeds (identical for every algorithm).

    :param policy: maps a single observation to an action
    :param env: gymnasium env used only for evaluation
    :param first_seed: seed of the first episode, episode ``i`` uses ``first_seed + i``
    :param n_episodes: number of episodes
    :return: mean return
    """
    return float(np.mean([play_episode(policy, env, first_seed + i)[0] for i in range(n_episodes)]))


class Tracker:
    """
    Owns the training clock, the CPU cap and the evaluation schedule of one run.

    :param env_id: gymnasium id of the task
    :param max_cpu: training CPU seconds after which the run stops unsolved
    :param confirm: count a run as solved only when the final episodes confirm the threshold; otherwise
        training goes on (without it, the first 10-episode pass ends the run and the final episodes only score it)
    """

    #: calls between two looks at the CPU clock (reading it at every env step would cost more than some env steps)
    CAP_CHECK_CALLS = 256

    def __init__(self, env_id: str, max_cpu: float, confirm: bool = False) -> None:
        self.threshold = THRESHOLDS[env_id]
        self.max_cpu = max_cpu
        self.confirm = confirm
        self.eval_every = max(1, round(BUDGETS[env_id] * EVAL_FRACTIONS.get(env_id, EVAL_FRACTION)))
        self.next_eval = self.eval_every
        deterministic = env_id in POLE_ENVS
        if deterministic:
            import sb3_cosyne.envs  # noqa: F401  (registers them; imported here for the peers, untimed)
        self.eval_episodes = DETERMINISTIC_EPISODES if deterministic else EVAL_EPISODES
        self.final_episodes = DETERMINISTIC_EPISODES if deterministic else FINAL_EPISODES
        self.eval_env = gym.make(env_id)
        self.clock = Stopwatch()
        self.calls = 0
        self.steps = 0
        self.best_eval10 = -math.inf
        self.best_eval50 = -math.inf
        self.solution: dict[str, float] = {}
        self.fingerprint: bytes | None = None
        self.scores: tuple[float, float | None] = (-math.inf, None)

    def score(self, policy: Policy) -> tuple[float, float | None]:
        """
        :param policy: the policy to evaluate
        :return: its mean return on the evaluation episodes, and on the final episodes if the former reaches the threshold
        """
        eval10 = evaluate(policy, self.eval_env, EVAL_SEED, self.eval_episodes)
        if eval10 < self.threshold:
            return eval10, None
        return eval10, evaluate(policy, self.eval_env, FINAL_SEED, self.final_episodes)

    def check(self, steps: int, make_policy: Callable[[], Policy], fingerprint: Callable[[], bytes] | None = None) -> None:
        """
        Called by the training loop whenever it can be interrupted.

        :param steps: training env steps so far
        :param make_policy: builds the policy to evaluate, only called when an evaluation is due
        :param fingerprint: returns bytes identifying the policy, only called when an evaluation is due: a policy
            evaluated before is not played again (a population method's best network stays the same over many
            evaluation points)
        :raises _OutOfTime: when the training CPU time exceeds the cap
        :raises _Solved: when the evaluation reaches the threshold (confirmed on the final episodes with ``confirm``)
        """
        self.steps = steps
        self.calls += 1
        if self.calls % self.CAP_CHECK_CALLS == 0 and self.clock.elapsed()[0] > self.max_cpu:
            raise _OutOfTime
        if steps < self.next_eval:
            return
        self.clock.pause()
        current = None if fingerprint is None else fingerprint()
        if current is None or current != self.fingerprint:
            self.fingerprint = current
            self.scores = self.score(make_policy())
        eval10, eval50 = self.scores
        self.best_eval10 = max(self.best_eval10, eval10)
        if eval50 is not None:
            self.best_eval50 = max(self.best_eval50, eval50)
            if not self.confirm or eval50 >= self.threshold:
                cpu_s, wall_s = self.clock.elapsed()
                self.solution = {"cpu_s": cpu_s, "wall_s": wall_s, "steps": steps, "eval10": eval10, "eval50": eval50}
                raise _Solved
        if self.clock.elapsed()[0] > self.max_cpu:
            raise _OutOfTime
        # Population methods may jump over several boundaries at once: evaluate once, then wait for the next one.
        self.next_eval = (steps // self.eval_every + 1) * self.eval_every
        self.clock.resume()


def sb3_policy(model: BaseAlgorithm) -> Policy:
    """
    Deterministic policy of an SB3 model for a single unnormalized observation.

    Observations are normalized with the training ``VecNormalize`` statistics (frozen: ``normalize_obs``
    does not update them), as the zoo does when it loads ``vecnormalize.pkl`` for evaluation.

    A recurrent model carries its state from step to step, reset at each episode's first step.

    :param model: SB3 model
    :return: the policy
    """
    venv = model.get_vec_normalize_env()
    state = None

    def policy(obs: np.ndarray, episode_start: bool) -> Any:
        nonlocal state
        if venv is not None:
            obs = venv.normalize_obs(obs)
        action, state = model.predict(obs, state, np.array([episode_start]), deterministic=True)
        return action

    return policy


def model_fingerprint(model: BaseAlgorithm) -> bytes:
    """
    :param model: SB3 model
    :return: the bytes of everything its deterministic policy depends on: the policy's state (parameters and
        buffers) and the ``VecNormalize`` observation statistics
    """
    parts = [tensor.detach().cpu().numpy().tobytes() for tensor in model.policy.state_dict().values()]
    venv = model.get_vec_normalize_env()
    if venv is not None:
        parts += [venv.obs_rms.mean.tobytes(), venv.obs_rms.var.tobytes()]
    return b"".join(parts)


class TrackerCallback(BaseCallback):
    """
    Lets the tracker evaluate ``self.model`` and stop training by raising.

    :param tracker: tracker of the run
    """

    def __init__(self, tracker: Tracker) -> None:
        super().__init__(verbose=0)
        self.tracker = tracker

    def _init_callback(self) -> None:
        self.policy, self.fingerprint = partial(sb3_policy, self.model), partial(model_fingerprint, self.model)

    def _on_step(self) -> bool:
        self.tracker.check(self.model.num_timesteps, self.policy, self.fingerprint)
        return True


def load_zoo_hyperparams(algo: str, env_id: str) -> dict[str, Any]:
    """
    Read rl_zoo3's tuned hyperparameters from its installed yml file, without importing rl_zoo3
    (its import patches gymnasium's ``TimeLimit``).

    :param algo: "ppo" or "ars"
    :param env_id: gymnasium id
    :return: raw yml entry, falling back to the "default" entry like the zoo
    """
    spec = importlib.util.find_spec("rl_zoo3")
    if spec is None or spec.origin is None:
        raise ImportError("rl_zoo3 is not installed")
    with (Path(spec.origin).parent / "hyperparams" / f"{algo}.yml").open() as file:
        table = yaml.safe_load(file)
    if env_id in table:
        return dict(table[env_id])
    if "default" in table:
        return dict(table["default"])
    raise KeyError(f"rl_zoo3 has no {algo} hyperparameters for {env_id}")


def linear_schedule(initial_value: float) -> Callable[[float], float]:
    """
    The zoo's "lin_<value>" schedule.

    :param initial_value: value at the start of training
    :return: schedule of the remaining progress (1 -> 0)
    """
    return lambda progress_remaining: progress_remaining * initial_value


def preprocess_zoo_hyperparams(hyperparams: dict[str, Any]) -> tuple[str, int, dict[str, Any] | None, dict[str, Any]]:
    """
    Mirror ``rl_zoo3.exp_manager.ExperimentManager._preprocess_hyperparams`` for the keys these envs use.

    :param hyperparams: raw yml entry
    :return: policy name, number of envs, ``VecNormalize`` kwargs (``None``: no normalization), model kwargs
    """
    kwargs = dict(hyperparams)
    unsupported = [key for key in ZOO_UNSUPPORTED_KEYS if key in kwargs]
    if unsupported:
        raise ValueError(f"zoo keys not supported by this benchmark: {unsupported}")
    for key in ZOO_IGNORED_KEYS:
        kwargs.pop(key, None)
    policy = kwargs.pop("policy")
    if "." in policy:
        raise ValueError(f"custom policy classes are not supported: {policy}")
    n_envs = int(kwargs.pop("n_envs", 1))
    for key in ZOO_SCHEDULE_KEYS:
        if isinstance(kwargs.get(key), str):
            kind, value = kwargs[key].split("_")
            if kind != "lin":
                raise ValueError(f"unknown schedule {kwargs[key]!r}")
            kwargs[key] = linear_schedule(float(value))
    if isinstance(kwargs.get("policy_kwargs"), str):
        kwargs["policy_kwargs"] = eval(kwargs["policy_kwargs"], {"nn": torch.nn})
    normalize = kwargs.pop("normalize", False)
    normalize_kwargs = None
    if normalize:
        normalize_kwargs = eval(normalize) if isinstance(normalize, str) else ({} if normalize is True else dict(normalize))
        # As in the zoo: discount rewards for normalization with the algorithm's gamma.
        if "gamma" in kwargs:
            normalize_kwargs["gamma"] = kwargs["gamma"]
    return policy, n_envs, normalize_kwargs, kwargs


def build_zoo_model(algo: str, env_id: str, seed: int) -> BaseAlgorithm:
    """
    PPO or ARS with rl_zoo3's tuned hyperparameters.

    :param algo: "ppo" or "ars"
    :param env_id: gymnasium id
    :param seed: run seed
    :return: the model
    """
    from sb3_contrib import ARS

    policy, n_envs, normalize_kwargs, kwargs = preprocess_zoo_hyperparams(load_zoo_hyperparams(algo, env_id))
    if algo == "ars":
        # The zoo evaluates ARS candidates in n_envs worker processes (AsyncEval) when n_envs > 1; one thread means
        # sequential evaluation on one env (all the ARS entries for the envs here have n_envs: 1 anyway).
        n_envs = 1
    venv = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    if normalize_kwargs is not None:
        venv = VecNormalize(venv, **normalize_kwargs)
    model_class = {"ppo": PPO, "ars": ARS}[algo]
    return model_class(policy, venv, seed=seed, verbose=0, **kwargs)


def build_cosyne(env_id: str, seed: int) -> BaseAlgorithm:
    """
    CoSyNE with its tuned hyperparameters from ``sb3_cosyne/hyperparams/cosyne.yml`` (defaults where the env has none).

    :param env_id: gymnasium id
    :param seed: run seed
    :return: the model
    """
    from sb3_cosyne import CoSyNE
    from sb3_cosyne.hyperparams import tuned_or_default

    policy, kwargs = tuned_or_default(env_id)
    return CoSyNE(policy, env_id, seed=seed, verbose=0, **kwargs)


def train_sb3(algo: str, env_id: str, seed: int, tracker: Tracker) -> None:
    """
    Build (on the clock) and train an SB3 model until the tracker raises or the budget is spent.

    :param algo: "cosyne", "ppo" or "ars"
    :param env_id: gymnasium id
    :param seed: run seed
    :param tracker: tracker of the run
    """
    model = build_cosyne(env_id, seed) if algo == "cosyne" else build_zoo_model(algo, env_id, seed)
    model.learn(total_timesteps=BUDGETS[env_id], callback=TrackerCallback(tracker))


class NumpyMLP:
    """
    MLP obs -> ``CMA_NET_ARCH`` tanh units -> outputs, with biases, over a flat parameter vector.
    Discrete actions: argmax of the outputs; Box actions: tanh, then rescaled from [-1, 1] to [low, high].

    :param observation_space: Box observation space
    :param action_space: Discrete or Box action space
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        assert isinstance(observation_space, spaces.Box)
        self.discrete = isinstance(action_space, spaces.Discrete)
        if self.discrete:
            n_outputs = int(action_space.n)
        else:
            assert isinstance(action_space, spaces.Box)
            n_outputs = int(np.prod(action_space.shape))
            self.low, self.high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
            self.action_shape = action_space.shape
        self.sizes = [int(np.prod(observation_space.shape)), *CMA_NET_ARCH, n_outputs]
        self.n_params = sum((n_in + 1) * n_out for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def layers(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """
        :param theta: flat parameters, per layer the (n_in, n_out) weight matrix then the biases
        :return: (weights, biases) per layer
        """
        layers, start = [], 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            weights = theta[start : start + n_in * n_out].reshape(n_in, n_out)
            start += n_in * n_out
            layers.append((weights, theta[start : start + n_out]))
            start += n_out
        return layers

    def policy(self, theta: np.ndarray) -> Policy:
        """
        :param theta: flat parameters
        :return: the deterministic policy they encode
        """
        *hidden, (w_out, b_out) = self.layers(np.asarray(theta, dtype=np.float64))

        def act(obs: np.ndarray, episode_start: bool) -> Any:
            h = np.asarray(obs, dtype=np.float64).ravel()
            for weights, biases in hidden:
                h = np.tanh(h @ weights + biases)
            out = h @ w_out + b_out
            if self.discrete:
                return int(np.argmax(out))
            action = self.low + (np.tanh(out) + 1.0) * 0.5 * (self.high - self.low)
            return action.reshape(self.action_shape).astype(np.float32)

        return act


def mean_policy(net: NumpyMLP, es: Any) -> Policy:
    """
    :param net: network the ES optimizes
    :param es: ``cma.CMAEvolutionStrategy``
    :return: policy of the distribution mean (``xfavorite``)
    """
    return net.policy(es.result.xfavorite)


def mean_fingerprint(es: Any) -> bytes:
    """
    :param es: ``cma.CMAEvolutionStrategy``
    :return: the bytes of the distribution mean (what ``mean_policy`` plays)
    """
    return es.result.xfavorite.tobytes()


def train_cmaes(env_id: str, seed: int, tracker: Tracker) -> None:
    """
    CMA-ES on the weights of ``NumpyMLP``; fitness is the return of one episode (reset seeds drawn from a
    generator seeded with the run seed). Evaluations score the distribution mean ``xfavorite``: with one noisy
    episode per candidate, ``xbest`` is mostly the luckiest candidate (on CartPole it missed the threshold within
    the budget for one of 4 seeds where ``xfavorite`` solved all 4). Restarts with a new seed when the ES stops.

    :param env_id: gymnasium id
    :param seed: run seed
    :param tracker: tracker of the run
    """
    import cma

    env = gym.make(env_id)
    net = NumpyMLP(env.observation_space, env.action_space)
    episode_seeds = np.random.default_rng(seed)
    budget, steps, restart = BUDGETS[env_id], 0, 0
    while True:
        # cma treats seed 0 as "random", hence the +1.
        options = {"seed": seed + 1 + 1000 * restart, "verbose": -9}
        es = cma.CMAEvolutionStrategy(np.zeros(net.n_params), CMA_SIGMA0, options)
        while not es.stop():
            candidates = es.ask()
            losses = []
            for theta in candidates:
                episode_return, length = play_episode(net.policy(theta), env, int(episode_seeds.integers(2**31 - 1)))
                steps += length
                losses.append(-episode_return)
                tracker.check(steps, partial(mean_policy, net, es), partial(mean_fingerprint, es))
                if steps >= budget:
                    return
            es.tell(candidates, losses)
        restart += 1


def warm_up(env_id: str) -> None:
    """
    Untimed short CoSyNE run, so that Numba has compiled and cached its functions before the timed runs.

    :param env_id: gymnasium id
    """
    model = build_cosyne(env_id, seed=0)
    model.learn(total_timesteps=1)
    model.predict(model.get_env().reset(), deterministic=True)


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """
    One timed run, inside the worker process.

    :param spec: env, algo, seed, max_cpu, cold, confirm
    :return: the run's record
    """
    env_id, algo, seed = spec["env"], spec["algo"], spec["seed"]
    # Imports are not training: time them apart (a cold Numba cache may compile at import).
    cpu0, wall0 = time.process_time(), time.perf_counter()
    importlib.import_module(ALGO_MODULES[algo])
    import_cpu_s, import_wall_s = time.process_time() - cpu0, time.perf_counter() - wall0

    tracker = Tracker(env_id, spec["max_cpu"], spec.get("confirm", False))
    tracker.clock.resume()
    try:
        if algo == "cmaes":
            train_cmaes(env_id, seed, tracker)
        else:
            train_sb3(algo, env_id, seed, tracker)
        stop = "budget"
    except _Solved:
        stop = "solved"
    except _OutOfTime:
        stop = "cpu_cap"
    best = tracker.best_eval10 if math.isfinite(tracker.best_eval10) else None
    best50 = tracker.best_eval50 if math.isfinite(tracker.best_eval50) else None
    return {
        "env": env_id,
        "algo": algo,
        "seed": seed,
        "cold": spec["cold"],
        "solved": stop == "solved",
        "stop": stop,
        "cpu_s": tracker.solution.get("cpu_s"),
        "wall_s": tracker.solution.get("wall_s"),
        "steps": tracker.solution.get("steps"),
        # Unsolved runs keep the best 10-episode mean seen.
        "eval10": tracker.solution.get("eval10", best),
        "eval50": tracker.solution.get("eval50", best50),
        "confirm": spec.get("confirm", False),
        # Where every run stopped: training env steps and CPU seconds (evaluation excluded).
        "steps_run": tracker.steps,
        "cpu_run_s": tracker.clock.elapsed()[0],
        "max_cpu": spec["max_cpu"],
        "budget": BUDGETS[env_id],
        "import_cpu_s": import_cpu_s,
        "import_wall_s": import_wall_s,
    }


def worker_main(spec_json: str) -> None:
    """
    Entry point of a worker subprocess: run or warm up, then write the record to ``spec["out"]``.

    :param spec_json: JSON-encoded spec
    """
    spec = json.loads(spec_json)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Could not import matplotlib")
    if spec["mode"] == "warmup":
        warm_up(spec["env"])
        return
    Path(spec["out"]).write_text(json.dumps(run_one(spec)))


def launch(spec: dict[str, Any]) -> dict[str, Any] | None:
    """
    Run a spec in a fresh single-threaded Python process (cold runs get an empty Numba cache).

    :param spec: env, algo, seed, max_cpu, cold, mode
    :return: the run's record, ``None`` for warm-ups and failures (reported on stderr)
    """
    env = {**os.environ, **SINGLE_THREAD_ENV}
    cache_dir = tempfile.mkdtemp(prefix="numba-cold-") if spec.get("cold") else None
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    fd, out = tempfile.mkstemp(suffix=".json", prefix="time-to-solve-")
    os.close(fd)
    try:
        command = [sys.executable, "-m", "benchmarks.time_to_solve", "--worker", json.dumps({**spec, "out": out})]
        proc = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"FAILED {describe(spec)} (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
            return None
        text = Path(out).read_text()
        return json.loads(text) if text else None
    finally:
        os.remove(out)
        if cache_dir is not None:
            shutil.rmtree(cache_dir, ignore_errors=True)


def describe(spec: dict[str, Any]) -> str:
    """
    :param spec: run or warm-up spec
    :return: short label for progress messages
    """
    label = f"{spec['mode']} {spec['env']} {spec['algo']} seed={spec['seed']}"
    return label + " (cold Numba cache)" if spec.get("cold") else label


def run_key(run: dict[str, Any]) -> tuple[str, str, int, bool]:
    """
    :param run: run spec or record
    :return: identity of a run, used by ``--resume``
    """
    return run["env"], run["algo"], run["seed"], run["cold"]


def load_runs(path: Path, max_cpu: float, confirm: bool) -> list[dict[str, Any]]:
    """
    Runs from a previous invocation; those measured under another CPU cap or solved criterion are dropped
    (they would be rerun).

    :param path: JSON file written by ``--json``
    :param max_cpu: current CPU cap
    :param confirm: current ``--confirm``
    :return: runs to keep
    """
    if not path.exists():
        return []
    runs = json.loads(path.read_text())
    kept = [run for run in runs if run["max_cpu"] == max_cpu and run.get("confirm", False) == confirm]
    if len(kept) < len(runs):
        print(f"--resume: dropping {len(runs) - len(kept)} runs measured with another --max-cpu or --confirm", file=sys.stderr)
    return kept


def save_runs(path: Path, runs: list[dict[str, Any]]) -> None:
    """
    Write all runs atomically, so an interrupted benchmark leaves a valid file to resume from.

    :param path: JSON file
    :param runs: run records
    """
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(runs, indent=1))
    tmp.replace(path)


def run_specs(specs: list[dict[str, Any]], jobs: int, on_result: Callable[[dict[str, Any]], None]) -> int:
    """
    Run specs ``jobs`` at a time.

    :param specs: run specs
    :param jobs: number of concurrent worker processes
    :param on_result: called in the main thread with each finished run
    :return: number of failed runs
    """
    failures = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(launch, spec): spec for spec in specs}
        for future in as_completed(futures):
            result = future.result()
            if result is None:
                failures += 1
                continue
            on_result(result)
            outcome = f"solved in {result['cpu_s']:.2f} CPU s, {result['steps']} steps" if result["solved"] else result["stop"]
            print(f"done {describe(futures[future])}: {outcome}", file=sys.stderr)
    return failures


def fmt(value: float | None, spec: str) -> str:
    """
    :param value: number or ``None``
    :param spec: format spec
    :return: formatted value, "—" for ``None``
    """
    return "—" if value is None else format(value, spec)


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    """
    :param runs: run records
    :param key: field
    :return: median over solved runs, ``None`` if none solved
    """
    values = [run[key] for run in runs if run["solved"]]
    return statistics.median(values) if values else None


def env_table(env_id: str, algos: list[str], runs: list[dict[str, Any]], max_cpu: float) -> str:
    """
    Markdown table of one env.

    :param env_id: gymnasium id
    :param algos: algorithms in row order
    :param runs: warm-cache runs of this env
    :param max_cpu: CPU cap of the runs
    :return: markdown
    """
    cosyne_cpu = median_of([run for run in runs if run["algo"] == "cosyne"], "cpu_s")
    lines = [
        f"### {env_id}: threshold {THRESHOLDS[env_id]:g}, budget {BUDGETS[env_id]:,} steps, CPU cap {max_cpu:g} s",
        "",
        "| algo | solved | median CPU s | median wall s | median steps | median 50-episode return | CoSyNE speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for algo in algos:
        algo_runs = [run for run in runs if run["algo"] == algo]
        if not algo_runs:
            continue
        cpu = median_of(algo_runs, "cpu_s")
        speed_up = cpu / cosyne_cpu if algo != "cosyne" and cpu is not None and cosyne_cpu else None
        n_solved = sum(run["solved"] for run in algo_runs)
        lines.append(
            f"| {algo} | {n_solved}/{len(algo_runs)} | {fmt(cpu, '.3g')} | {fmt(median_of(algo_runs, 'wall_s'), '.3g')} "
            f"| {fmt(median_of(algo_runs, 'steps'), ',.0f')} | {fmt(median_of(algo_runs, 'eval50'), '.1f')} "
            f"| {fmt(speed_up, '.2f')} |"
        )
    return "\n".join(lines)


def cold_table(envs: list[str], runs: list[dict[str, Any]]) -> str:
    """
    Markdown table comparing each env's cold-cache CoSyNE run with the warm-cache run of the same seed.

    :param envs: env ids in row order
    :param runs: all runs
    :return: markdown
    """
    lines = [
        "### CoSyNE first run (empty Numba cache) vs warm cache, same seed",
        "",
        "| env | seed | cold: CPU s to solve | warm: CPU s to solve | cold: wall s | warm: wall s "
        "| cold: import CPU s | warm: import CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_key = {run_key(run): run for run in runs}
    for env_id in envs:
        cold = next((run for run in runs if run["env"] == env_id and run["algo"] == "cosyne" and run["cold"]), None)
        if cold is None:
            continue
        warm = by_key.get((env_id, "cosyne", cold["seed"], False), {})
        lines.append(
            f"| {env_id} | {cold['seed']} | {fmt(cold['cpu_s'], '.3g')} | {fmt(warm.get('cpu_s'), '.3g')} "
            f"| {fmt(cold['wall_s'], '.3g')} | {fmt(warm.get('wall_s'), '.3g')} "
            f"| {fmt(cold['import_cpu_s'], '.3g')} | {fmt(warm.get('import_cpu_s'), '.3g')} |"
        )
    return "\n".join(lines)


def summary_table(envs: list[str], algo: str, runs: list[dict[str, Any]]) -> str:
    """
    Markdown table with one row per env for one algorithm (``--summary``).

    :param envs: env ids in row order
    :param algo: the algorithm
    :param runs: warm-cache runs
    :return: markdown
    """
    lines = [
        f"### {algo}: one row per env",
        "",
        "| env | threshold | step budget | CPU cap s | solved | median CPU s | median wall s | median steps "
        "| median final return | unsolved seeds: best 10-episode / 50-episode mean (steps run, CPU s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env_id in envs:
        env_runs = sorted((run for run in runs if run["env"] == env_id and run["algo"] == algo), key=lambda run: run["seed"])
        if not env_runs:
            continue
        unsolved = ", ".join(
            f"{fmt(run['eval10'], '.1f')} / {fmt(run['eval50'], '.1f')} ({run['steps_run']:,}, {run['cpu_run_s']:.3g})"
            for run in env_runs
            if not run["solved"]
        )
        solved = f"{sum(run['solved'] for run in env_runs)}/{len(env_runs)}"
        cap = max(run["max_cpu"] for run in env_runs)
        lines.append(
            f"| {env_id} | {THRESHOLDS[env_id]:g} | {BUDGETS[env_id]:,} | {cap:g} | {solved} "
            f"| {fmt(median_of(env_runs, 'cpu_s'), '.3g')} | {fmt(median_of(env_runs, 'wall_s'), '.3g')} "
            f"| {fmt(median_of(env_runs, 'steps'), ',.0f')} | {fmt(median_of(env_runs, 'eval50'), '.1f')} "
            f"| {unsolved or '—'} |"
        )
    return "\n".join(lines)


def report(
    envs: list[str],
    algos: list[str],
    seeds: list[int],
    runs: list[dict[str, Any]],
    max_cpu: float,
    summary: bool = False,
    confirm: bool = False,
) -> str:
    """
    Full markdown report.

    :param envs: env ids
    :param algos: algorithms
    :param seeds: seeds of the warm runs
    :param runs: all runs
    :param max_cpu: CPU cap
    :param summary: one table per algorithm with a row per env, instead of one table per env
    :param confirm: whether the runs were measured with ``--confirm``
    :return: markdown
    """
    warm = [run for run in runs if not run["cold"] and run["algo"] in algos and run["seed"] in seeds]
    if summary:
        tables = [summary_table(envs, algo, warm) for algo in algos]
    else:
        tables = [env_table(env_id, algos, [run for run in warm if run["env"] == env_id], max_cpu) for env_id in envs]
    schedule = (
        f"Solved means that the mean of 10 deterministic episodes (reset seeds {EVAL_SEED}+i), checked every "
        f"{EVAL_FRACTION:.1%} of the budget ({', '.join(f'{k} {v:.1%}' for k, v in EVAL_FRACTIONS.items())}), "
        "reaches the threshold"
    )
    if confirm:
        criterion = (
            f"{schedule} and 50 fresh episodes (seeds {FINAL_SEED}+i) confirm it; until they do, training goes on. "
            "The final return is that 50-episode mean"
        )
    else:
        criterion = f"{schedule}; the 50-episode return (seeds {FINAL_SEED}+i) scores that same policy"
    sections = [
        "## Time to solve (1 thread per run, process CPU time, evaluation excluded)",
        *tables,
        "Medians are over solved seeds only; a seed that hits the step budget or the CPU cap counts as not solved "
        "and is left out of the medians (not counted at the cap). CoSyNE speed-up = peer median CPU s / CoSyNE median "
        f"CPU s (> 1: CoSyNE is faster), shown when both solved at least one seed. {criterion}. The pole-balancing "
        "envs start from one state: there a single episode of 100,000 steps is the whole evaluation.",
    ]
    if any(run["cold"] for run in runs):
        sections.append(cold_table(envs, runs))
    return "\n\n".join(sections) + "\n"


def parse_args() -> argparse.Namespace:
    """
    :return: command-line arguments
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(COMPARISON_ENVS), choices=list(THRESHOLDS))
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, 0..N-1")
    parser.add_argument("--max-cpu", type=float, default=120.0, help="training CPU seconds per run before giving up")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument("--json", type=Path, help="write all runs here (after each run)")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    parser.add_argument("--cold", action="store_true", help="also one CoSyNE run per env with an empty Numba cache")
    parser.add_argument("--resume", action="store_true", help="skip runs already in --json")
    parser.add_argument("--confirm", action="store_true", help="solved only once 50 fresh episodes confirm the threshold")
    parser.add_argument("--summary", action="store_true", help="one table per algorithm with a row per env")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.resume and args.json is None:
        parser.error("--resume needs --json")
    return args


def main() -> None:
    """Schedule the runs, collect them and print the tables."""
    args = parse_args()
    if args.worker is not None:
        worker_main(args.worker)
        return
    seeds = list(range(args.seeds))
    runs = load_runs(args.json, args.max_cpu, args.confirm) if args.resume else []
    done = {run_key(run) for run in runs}
    base = {"mode": "run", "max_cpu": args.max_cpu, "confirm": args.confirm}
    specs = [
        {**base, "env": env_id, "algo": algo, "seed": seed, "cold": False}
        for env_id in args.envs
        for algo in args.algos
        for seed in seeds
    ]
    if args.cold and "cosyne" in args.algos:
        specs += [{**base, "env": env_id, "algo": "cosyne", "seed": seeds[0], "cold": True} for env_id in args.envs]
    specs = [spec for spec in specs if run_key(spec) not in done]

    # Warm runs must find Numba's cache filled, so that compilation is not charged to whichever seed runs first.
    for env_id in sorted({spec["env"] for spec in specs if spec["algo"] == "cosyne" and not spec["cold"]}):
        print(f"warm-up {env_id} cosyne", file=sys.stderr)
        launch({"mode": "warmup", "env": env_id, "algo": "cosyne", "seed": 0})

    def on_result(result: dict[str, Any]) -> None:
        runs.append(result)
        if args.json is not None:
            save_runs(args.json, runs)

    failures = run_specs(specs, args.jobs, on_result)
    markdown = report(args.envs, args.algos, seeds, runs, args.max_cpu, args.summary, args.confirm)
    print(markdown)
    if args.markdown is not None:
        args.markdown.write_text(markdown)
    if failures:
        sys.exit(f"{failures} runs failed (see above); rerun with --resume to retry them")


if __name__ == "__main__":
    main()
