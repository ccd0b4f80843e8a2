"""Fingerprints of short seeded runs of every ``cosyne.yml`` entry: the champion, the population and the step count.

A restructuring that keeps behaviour bit for bit leaves every fingerprint unchanged. Run it before and after a change
and compare the two files::

    python scripts/champion_fingerprints.py --out before.json   # on the old code
    python scripts/champion_fingerprints.py --out after.json    # on the new code
    diff before.json after.json

Each entry runs with the fast path where the env has a compiled port, and again with ``fast_path=False`` (the VecEnv
path, on two lanes), for ``--steps`` env steps.
"""

import argparse
import hashlib
import json

import gymnasium as gym
import numpy as np
import yaml
from stable_baselines3.common.env_util import make_vec_env

from sb3_cosyne import CoSyNE
from sb3_cosyne.hyperparams import DEFAULT_PATH, load_hyperparams, model_kwargs


def digest(array: np.ndarray) -> str:
    """A short hash of an array's bytes."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def fingerprint(env_id: str, steps: int, fast_path: bool, seed: int) -> dict:
    """Train one entry briefly and describe where it ended."""
    policy, kwargs = model_kwargs(load_hyperparams(env_id))
    env = gym.make(env_id) if fast_path else make_vec_env(env_id, n_envs=2)
    model = CoSyNE(policy, env, seed=seed, fast_path=fast_path, **kwargs)
    model.learn(total_timesteps=steps)
    return {
        "champion": digest(model.champion_params()),
        "population": digest(model.strategy.population),
        "num_timesteps": int(model.num_timesteps),
        "best_fitness": float(model.best_fitness),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--envs", nargs="*", help="yml entries to run (default: all)")
    args = parser.parse_args()
    with open(DEFAULT_PATH) as file:
        env_ids = args.envs or list(yaml.safe_load(file))
    results = {}
    for env_id in env_ids:
        for fast_path in (True, False):
            key = f"{env_id} fast_path={fast_path}"
            results[key] = fingerprint(env_id, args.steps, fast_path, args.seed)
            print(key, results[key], flush=True)
    with open(args.out, "w") as file:
        json.dump(results, file, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
