"""The CMA-ES baseline: the ``cma`` package on the flat weights of a small numpy network."""

from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from benchmarks.time_to_solve.tasks import BUDGETS
from benchmarks.time_to_solve.tracking import Policy, Tracker, play_episode

# Hidden layer sizes of the CMA-ES network, meant to match CoSyNE's default policy.
CMA_NET_ARCH: list[int] = [8]
CMA_SIGMA0 = 0.5


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
