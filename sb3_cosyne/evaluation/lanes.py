"""Batched evaluation of many networks on the lanes of a VecEnv.

Each lane of the VecEnv runs one episode of one network at a time; at every step one Numba call
(:func:`~sb3_cosyne.evaluation.lane_step.advance_lanes`) records the step of every busy lane and computes the
next actions of all of them, each from its own parameter vector. A lane whose episode ends takes the next
episode still to run, so lanes stay busy. Every episode starts from ``reset(seed=...)`` with its own seed,
so a network's return does not depend on which lane ran it or on how many lanes there are. Per step,
Python only steps the envs and calls the callback.

A VecEnv under VecEnv wrappers (``VecNormalize``, ``VecFrameStack``, ``VecMonitor``, ...) is stepped through them
instead: its lanes reset themselves when an episode ends, so each evaluation starts from one seeded reset of all
lanes and a lane's next episode is the one its VecEnv started (reproducible, but not shared between networks).
"""

from collections.abc import Callable

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper, unwrap_vec_normalize

from sb3_cosyne.evaluation.lane_step import (
    ACTION,
    CUT,
    ENDED,
    INVALID,
    JOB,
    LENGTH,
    MEAN,
    OVER,
    RETURN,
    REWARD,
    RUNNING,
    SQ_SUM,
    STD,
    SUM,
    LaneNetworks,
    LaneOutputs,
    Lanes,
    advance_lanes,
    direct_call,
)
from sb3_cosyne.evaluation.result import EnvStepError, EvaluationResult, Transition
from sb3_cosyne.networks.spaces import box_actions, outputs_to_actions, preprocess_obs
from sb3_cosyne.networks.spec import NetworkSpec
from sb3_cosyne.networks.torch_forward import TorchForward

#: called after every batched step with the number of env steps taken and a function giving the step's transition;
#: returning False stops the evaluation
OnStep = Callable[[int, Callable[[], Transition]], bool]


class _Lanes:
    """
    How a :class:`LaneRunner` resets and steps the lanes of a VecEnv: one episode per lane, each reset with its seed.

    :param env: the VecEnv
    """

    def __init__(self, env: VecEnv) -> None:
        self.env = env
        #: the lane stepped last, which names the culprit when an env raises (None: all lanes step at once)
        self.lane: int | None = None
        #: each lane's info from its last step
        self.infos: list[dict] = [{} for _ in range(env.num_envs)]

    def begin(self, seed: int) -> None:
        """Prepare the lanes for an evaluation whose first episode has reset seed ``seed``."""

    def ready(self, lane: int) -> bool:
        """Whether ``lane`` can start an episode now."""
        return True

    def reset(self, lane: int, seed: int) -> np.ndarray:
        """Start an episode on ``lane`` from reset seed ``seed``; return its first observation."""
        return self.env.env_method("reset", seed=int(seed), indices=[lane])[0][0]


class _VecLanes(_Lanes):
    """Lanes of any VecEnv: all lanes step together; resets go through ``env_method`` to pass a seed."""

    def __init__(self, env: VecEnv) -> None:
        super().__init__(env)
        self.actions: np.ndarray | None = None

    def step(self, busy: list[int], actions: np.ndarray | list, obs_out: np.ndarray, lane_out: np.ndarray) -> None:
        obs, rewards, dones = self._step_all(busy, actions)
        obs_out[busy] = obs[busy]
        lane_out[busy, REWARD] = rewards[busy]
        lane_out[busy, OVER] = dones[busy]

    def _step_all(self, busy: list[int], actions: np.ndarray | list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step every lane, the idle ones with their last action (their transitions are ignored)."""
        actions = np.asarray(actions)
        if self.actions is None:
            self.actions = np.repeat(actions[busy[:1]], self.env.num_envs, axis=0)
        # A new array each step: an env (or a VecEnv wrapper) may keep the actions it was given.
        self.actions = self.actions.copy()
        self.actions[busy] = actions[busy]
        obs, rewards, dones, infos = self.env.step(self.actions)
        for lane in busy:
            self.infos[lane] = infos[lane]
        return obs, rewards, dones


class _WrappedLanes(_VecLanes):
    """
    Lanes of a VecEnv under VecEnv wrappers, stepped through them. The VecEnv resets a lane itself when its episode
    ends (without a seed), so a lane is ready for the next episode only right after its VecEnv episode ended; a lane
    whose episode was cut short (the episode cap, a non-finite value) waits until :meth:`begin` resets all lanes.
    Fitness counts the env's own rewards, before ``VecNormalize`` scales them.
    """

    def __init__(self, env: VecEnvWrapper) -> None:
        super().__init__(env)
        self.normalizer = unwrap_vec_normalize(env)
        #: each lane's observation at the start of its VecEnv episode, while ``fresh``
        self.first_obs: np.ndarray | None = None
        self.fresh = np.zeros(env.num_envs, dtype=bool)

    def begin(self, seed: int) -> None:
        self.env.seed(int(seed))
        self.first_obs = np.array(self.env.reset())
        self.fresh[:] = True

    def ready(self, lane: int) -> bool:
        return bool(self.fresh[lane])

    def reset(self, lane: int, seed: int) -> np.ndarray:
        self.fresh[lane] = False
        return self.first_obs[lane]

    def _step_all(self, busy: list[int], actions: np.ndarray | list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        obs, rewards, dones = super()._step_all(busy, actions)
        if self.normalizer is not None:
            rewards = self.normalizer.get_original_reward()
        # A lane whose episode ended holds its next episode's first observation (the VecEnv reset it).
        self.fresh = np.asarray(dones, dtype=bool).copy()
        self.first_obs[self.fresh] = obs[self.fresh]
        return obs, rewards, dones


class _DummyLanes(_Lanes):
    """Lanes of a DummyVecEnv, stepped directly: idle lanes cost nothing and no infos are copied."""

    def __init__(self, env: DummyVecEnv) -> None:
        super().__init__(env)
        self.envs = env.envs

    def reset(self, lane: int, seed: int):
        return self.envs[lane].reset(seed=int(seed))[0]

    def step(self, busy: list[int], actions: np.ndarray | list, obs_out: np.ndarray, lane_out: np.ndarray) -> None:
        envs = self.envs
        for lane in busy:
            self.lane = lane
            obs, reward, terminated, truncated, self.infos[lane] = envs[lane].step(actions[lane])
            obs_out[lane] = obs
            lane_out[lane, REWARD] = reward
            lane_out[lane, OVER] = terminated or truncated


def _make_lanes(env: VecEnv) -> _Lanes:
    if isinstance(env, VecEnvWrapper):
        return _WrappedLanes(env)
    return _DummyLanes(env) if isinstance(env, DummyVecEnv) else _VecLanes(env)


class _Actions:
    """
    Turns every lane's outputs into its action: Discrete actions come from the kernel as ints (Python ints pass
    gymnasium's checks much faster than numpy scalars), float Box actions from the kernel too
    (:func:`~sb3_cosyne.networks.spaces.box_actions`, into a fresh array each step, since an env may keep the
    action it was given), other spaces go through ``outputs_to_actions``.
    """

    def __init__(self, action_space: spaces.Space, num_envs: int) -> None:
        self.space = action_space
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.start = int(action_space.start) if self.discrete else 0
        self.box = isinstance(action_space, spaces.Box) and np.issubdtype(action_space.dtype, np.floating)
        #: the bounds the kernel squashes Box actions into (no columns: the kernel computes none)
        self.bounds = np.zeros((3, 0))
        #: what the kernel fills with Box actions: shape and dtype
        self.buffer_shape, self.dtype = (num_envs, 0), np.dtype(np.float64)
        if self.box:
            low, high = action_space.low, action_space.high
            # The span in the space's dtype first, as numpy promotes it in outputs_to_actions.
            self.bounds = np.stack([low.ravel(), (high - low).ravel(), high.ravel()]).astype(np.float64)
            self.buffer_shape, self.dtype = (num_envs, self.bounds.shape[1]), action_space.dtype
            self.shape = (num_envs, *action_space.shape)

    def buffer(self) -> np.ndarray:
        """An array for the kernel's Box actions."""
        return np.empty(self.buffer_shape, dtype=self.dtype)

    def __call__(self, outputs: np.ndarray, lane_info: np.ndarray, box: np.ndarray) -> np.ndarray | list:
        """
        :param outputs: every lane's outputs (zeros for idle lanes)
        :param lane_info: every lane's Discrete action in its ``ACTION`` column
        :param box: every lane's Box action, as the kernel computed them from ``outputs``
        :return: one action per lane
        """
        if self.discrete:
            return lane_info[:, ACTION].tolist()
        if self.box:
            return box if box.shape == self.shape else box.reshape(self.shape)
        return outputs_to_actions(outputs, self.space)


def evaluate_networks(
    env: VecEnv,
    network: NetworkSpec,
    params: np.ndarray,
    seeds: np.ndarray,
    obs_stats: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    *,
    on_step: OnStep | None = None,
    on_invalid: Callable[[int, int, str], None] | None = None,
    torch_forward: TorchForward | None = None,
    first_network: int = 0,
    first_episode: int = 0,
    max_episode_steps: int | None = None,
) -> EvaluationResult:
    """
    Run ``seeds.shape[1]`` episodes of each network on the lanes of ``env``.

    :param env: the VecEnv whose lanes run the episodes
    :param network: the architecture the parameter vectors fill
    :param params: one parameter vector per network, shape ``(n_networks, num_params)``
    :param seeds: reset seed of each episode, shape ``(n_networks, n_episodes)``
    :param obs_stats: observation mean and standard deviation to normalise with, or ``(None, None)``
    :param on_step: called after every batched step with the number of env steps taken and a function that gives
        the step's :class:`~sb3_cosyne.evaluation.result.Transition`; returning False aborts the evaluation
    :param on_invalid: called with (network, step, what) when an env returns a non-finite observation
        or reward; that episode ends and its return is NaN
    :param torch_forward: run the networks with this torch forward (for ``env.num_envs`` lanes) instead of Numba's
    :param first_network: number of the first network in error messages (when these networks are part of a larger
        call, as an evaluator's block is)
    :param first_episode: number of the first episode in error messages
    :param max_episode_steps: cut episodes that have not ended after this many steps (None: never)
    :raises EnvStepError: when the env raises, naming the network and the lane
    :return: the episodes' returns and lengths and the observation statistics
    """
    runner = LaneRunner(
        env,
        network,
        params,
        seeds,
        obs_stats,
        torch_forward=torch_forward,
        first_network=first_network,
        first_episode=first_episode,
        max_episode_steps=max_episode_steps,
    )
    return runner.run(on_step, on_invalid)


class LaneRunner:
    """
    One evaluation of many networks on the lanes of a VecEnv (see :func:`evaluate_networks`): the episodes still
    to run are jobs, numbered ``network * n_episodes + episode``, handed to the lanes in order.

    :param env: the VecEnv whose lanes run the episodes
    :param network: the architecture the parameter vectors fill
    :param params: one parameter vector per network, shape ``(n_networks, num_params)``
    :param seeds: reset seed of each episode, shape ``(n_networks, n_episodes)``
    :param obs_stats: observation mean and standard deviation to normalise with, or ``(None, None)``
    :param torch_forward: run the networks with this torch forward instead of Numba's
    :param first_network: number of the first network in error messages
    :param first_episode: number of the first episode in error messages
    :param max_episode_steps: cut episodes that have not ended after this many steps (None: never)
    """

    def __init__(
        self,
        env: VecEnv,
        network: NetworkSpec,
        params: np.ndarray,
        seeds: np.ndarray,
        obs_stats: tuple[np.ndarray | None, np.ndarray | None],
        torch_forward: TorchForward | None = None,
        first_network: int = 0,
        first_episode: int = 0,
        max_episode_steps: int | None = None,
    ) -> None:
        self.seeds = seeds
        self.n_episodes = seeds.shape[1]
        self.n_jobs = seeds.size
        num_envs = env.num_envs
        self.lanes = _make_lanes(env)
        self.params = np.ascontiguousarray(params, dtype=np.float64)
        self.n_params = self.params.shape[1]
        self.torch_forward = torch_forward
        self.first_network, self.first_episode = first_network, first_episode
        mean, std = obs_stats
        self.normalize = mean is not None
        self.obs_space = env.observation_space

        self.returns = np.zeros(seeds.shape)
        self.lengths = np.zeros(seeds.shape, dtype=np.int64)
        #: the result, completed by :meth:`_result`
        self.outcome = EvaluationResult(self.returns, self.lengths, 0, np.zeros(0), np.zeros(0))
        #: the actions of the last step
        self.actions: np.ndarray | list = []
        self.lane_info = np.zeros((num_envs, 3), dtype=np.int64)
        self.lane_info[:, JOB] = -1
        self.lane_out = np.zeros((num_envs, 4))
        self.lane_nets = np.zeros((num_envs, self.n_params + network.state_dim))
        # float64 whatever the space's dtype (casting is exact, as preprocess_obs's), so that the kernel has one signature
        self.obs_buf = np.zeros((num_envs, *self.obs_space.shape))
        # Discrete observations are one-hot encoded by numpy; the kernel reads all others as they are.
        self.one_hot = isinstance(self.obs_space, (spaces.Discrete, spaces.MultiDiscrete))
        self.inputs = np.zeros((num_envs, network.obs_dim)) if self.one_hot else self.obs_buf.reshape(num_envs, -1)
        self.stats = np.zeros((6, network.obs_dim))
        if self.normalize:
            self.stats[MEAN], self.stats[STD] = mean, std
        self.outputs = np.zeros((num_envs, int(network.layer_sizes[-1])))
        self.to_actions = _Actions(env.action_space, num_envs)
        self.box = self.to_actions.buffer()
        run_here = torch_forward is None
        max_length = np.inf if max_episode_steps is None else float(max_episode_steps)
        self.lane_arrays = Lanes(
            self.lane_info, self.lane_out, self.inputs, self.lane_nets, self.stats, self.normalize, max_length
        )
        self.networks = LaneNetworks(network.layer_sizes, network.with_bias, network.activation_code, run_here)
        if run_here:
            self.target = LaneOutputs(self.outputs, self.to_actions.start, self.to_actions.bounds)
        else:
            torch_forward.load(self.params)
            # The kernel leaves the networks' inputs in the target for torch.
            self.target = LaneOutputs(np.zeros((num_envs, int(network.layer_sizes[0]))), 0, self.to_actions.bounds)
        self.kernel = direct_call(advance_lanes, True, self.lane_arrays, self.networks, self.target, self.box)
        self.obs_count = 0
        self.next_job = 0
        self.busy: list[int] = []

    def run(
        self, on_step: OnStep | None = None, on_invalid: Callable[[int, int, str], None] | None = None
    ) -> EvaluationResult:
        """
        Run every episode (see :func:`evaluate_networks` for the callbacks).

        :return: the episodes' returns and lengths and the observation statistics
        """
        self._start_all()
        while self.busy or self.next_job < self.n_jobs:
            if not self.busy:
                # Every lane left its last episode before the env ended it (wrapped lanes wait for a reset).
                self._start_all()
                continue
            busy = self.busy
            try:
                self.actions = self.to_actions(self.outputs, self.lane_info, self.box)
                self.lanes.step(busy, self.actions, self.obs_buf, self.lane_out)
            except Exception as error:
                raise self._env_error(error, self.lanes.lane) from error
            # Records this step and, unless an episode ended, computes the next actions.
            n_ended = self._advance(record=True)
            if self.normalize:
                # The inputs the last call read were stepped: their statistics count from this call on.
                self.obs_count += len(busy)
            if on_step is not None and not on_step(len(busy), self.transition):
                for lane in busy:
                    self._record_episode(lane)
                return self._result(aborted=True)
            if n_ended:
                self._end_episodes(on_invalid)
        return self._result()

    def _end_episodes(self, on_invalid: Callable[[int, int, str], None] | None) -> None:
        """Record the episodes that ended, start the next ones on their lanes and compute the next actions."""
        for lane in self.busy:
            ended = self.lane_info[lane, ENDED]
            if not ended:
                continue
            net, episode = self._record_episode(lane)
            self.outcome.record_success(net, episode, self.lanes.infos[lane])
            self.outcome.cut_episodes += int(ended == CUT)
            if ended == INVALID and on_invalid is not None:
                what = "reward" if not np.isfinite(self.lane_out[lane, REWARD]) else "observation"
                on_invalid(net, int(self.lengths[net, episode]), what)
            self._start(lane)
        self._refill()

    def _start_all(self) -> None:
        """Start the next jobs on all lanes, from a new beginning of the lanes."""
        if self.next_job >= self.n_jobs:
            return
        network, episode = divmod(self.next_job, self.n_episodes)
        try:
            self.lanes.begin(self.seeds[network, episode])
        except Exception as error:
            raise self._env_error(error, None) from error
        for lane in range(min(self.lane_info.shape[0], self.n_jobs - self.next_job)):
            self._start(lane)
        self._refill()

    def _refill(self) -> None:
        """Update the busy lanes and, if any, compute their next actions."""
        self.busy = [lane for lane in range(self.lane_info.shape[0]) if self.lane_info[lane, JOB] >= 0]
        if self.busy:
            self._advance(record=False)

    def _start(self, lane: int) -> None:
        """Start the next job on ``lane``, or leave it idle when none is left."""
        self.lane_out[lane, RETURN] = self.lane_out[lane, LENGTH] = 0.0
        if self.next_job >= self.n_jobs or not self.lanes.ready(lane):
            self.lane_info[lane, JOB] = -1
            return
        job = self.next_job
        self.next_job += 1
        self.lane_info[lane, JOB] = job
        network, episode = divmod(job, self.n_episodes)
        self.lane_nets[lane, : self.n_params] = self.params[network]
        self.lane_nets[lane, self.n_params :] = 0.0
        if self.torch_forward is not None:
            self.torch_forward.assign(lane, network)
        try:
            self.obs_buf[lane] = self.lanes.reset(lane, self.seeds[network, episode])
        except Exception as error:
            raise self._env_error(error, lane) from error

    def _record_episode(self, lane: int) -> tuple[int, int]:
        """Write the lane's episode so far into the results; return its network and episode."""
        net, episode = divmod(int(self.lane_info[lane, JOB]), self.n_episodes)
        self.returns[net, episode] = self.lane_out[lane, RETURN]
        self.lengths[net, episode] = int(self.lane_out[lane, LENGTH])
        return net, episode

    def _advance(self, record: bool) -> int:
        """
        One call of :func:`~sb3_cosyne.evaluation.lane_step.advance_lanes` over the busy lanes (and the torch forward).

        :param record: whether a step was taken since the last call
        :return: the number of episodes that ended
        """
        if self.one_hot:
            self.inputs[self.busy] = preprocess_obs(self.obs_buf[self.busy], self.obs_space)
        if self.to_actions.box:
            # A new array each step: an env may keep the action it was given.
            self.box = self.to_actions.buffer()
        n_ended = self.kernel(record, self.lane_arrays, self.networks, self.target, self.box)
        if self.torch_forward is not None and not n_ended:
            self._torch_outputs()
        return n_ended

    def _torch_outputs(self) -> None:
        """The outputs and actions of every lane from the torch forward, on the inputs the kernel left."""
        outputs, hidden = self.torch_forward(self.target.outputs)
        self.outputs[:] = outputs
        self.outputs[self.lane_info[:, JOB] < 0] = 0.0
        self.lane_info[:, ACTION] = self.outputs.argmax(axis=1) + self.to_actions.start
        if self.to_actions.box:
            box_actions(self.outputs, self.to_actions.bounds, self.box)
        if hidden is not None:
            self.lane_nets[:, self.n_params :] = hidden

    def _env_error(self, error: Exception, lane: int | None) -> EnvStepError:
        """The error to raise when the env raised, naming the lane and the network (or the busy lanes)."""
        lane_job = self.lane_info[:, JOB]
        if lane is None:
            busy = ", ".join(
                f"{lane} (network {lane_job[lane] // self.n_episodes + self.first_network})"
                for lane in np.flatnonzero(lane_job >= 0)
            )
            where = f"one of the lanes {busy}" if busy else "a reset of all lanes"
        else:
            network, episode = divmod(int(lane_job[lane]), self.n_episodes)
            where = (
                f"lane {lane} while evaluating network {network + self.first_network} (episode {episode + self.first_episode})"
            )
        return EnvStepError(f"the env raised {type(error).__name__}: {error} in {where}; the population is left as it was")

    def transition(self) -> Transition:
        """The last batched step, as SB3's on-policy loop shows it to callbacks."""
        busy = self.lane_info[:, JOB] >= 0
        infos = self.lanes.infos
        new_obs = self.obs_buf.astype(self.obs_space.dtype)
        new_obs[~busy] = 0
        return Transition(
            n_steps=int(busy.sum()),
            actions=np.array(self.actions),
            new_obs=new_obs,
            rewards=np.where(busy, self.lane_out[:, REWARD], 0.0),
            dones=busy & (self.lane_info[:, ENDED] != RUNNING),
            infos=[infos[lane] if busy[lane] else {} for lane in range(busy.size)],
        )

    def _result(self, aborted: bool = False) -> EvaluationResult:
        outcome = self.outcome
        outcome.obs_count, outcome.aborted = self.obs_count, aborted
        outcome.obs_sum, outcome.obs_sq_sum = self.stats[SUM].copy(), self.stats[SQ_SUM].copy()
        return outcome
