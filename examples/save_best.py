"""
Save the best network while training: SB3's ``EvalCallback`` and a small callback of your own.

Two notions of "best":

- ``EvalCallback(best_model_save_path=...)`` (SB3) evaluates the model on a separate env and saves
  ``best_model.zip`` whenever the evaluation's mean return is the highest so far. Wrapped in SB3's
  ``EveryNTimesteps``, it runs every ``--eval-freq`` env steps counted by ``num_timesteps``, whatever the
  number of lanes (on its own, ``eval_freq`` counts callback calls, one per batched step of all lanes).
- ``SaveChampionCallback`` (below, 20 lines) saves ``champion.zip`` whenever CoSyNE crowns a new champion, the
  best network by training fitness, re-tested on fresh episodes before it is crowned, or the champion's score
  changes (its re-test record grows, and its mean may fall). It runs at the end of each generation
  (``on_rollout_end``), so it costs no extra episodes.

Both files load with ``CoSyNE.load``. The settings are the tuned ones for Pendulum-v1 from ``cosyne.yml``.

    python examples/save_best.py                      # 1,000,000 steps, a few seconds, files in best_pendulum/
    python examples/save_best.py --steps 100000 --eval-freq 20000 --folder /tmp/best
"""

import argparse
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback, EveryNTimesteps
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_cosyne import CoSyNE
from sb3_cosyne.hyperparams import load_hyperparams, model_kwargs

ENV_ID = "Pendulum-v1"


class SaveChampionCallback(BaseCallback):
    """
    Save the model whenever its champion changes.

    :param path: file to save to (``.zip`` is added)
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        self.params: np.ndarray | None = None
        self.best_fitness = -np.inf
        self.saves = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        # A generation has ended. Compare the champion itself, not only its score: the champion's score is the mean
        # of its re-test record, which can fall as the record grows, so a new champion may score below an old one.
        params = self.model.champion_params()
        if self.params is None or self.model.best_fitness != self.best_fitness or not np.array_equal(params, self.params):
            self.params, self.best_fitness = params, self.model.best_fitness
            self.model.save(self.path)
            self.saves += 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000, help="training env steps")
    parser.add_argument("--eval-freq", type=int, default=50_000, help="env steps between EvalCallback's evaluations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=Path("best_pendulum"), help="where the files go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> tuple[CoSyNE, EvalCallback, SaveChampionCallback]:
    """
    Train with both callbacks, then load what they saved and evaluate it.

    :param argv: command-line arguments (None reads ``sys.argv``)
    :return: the trained model and the two callbacks
    """
    args = parse_args(argv)
    policy, kwargs = model_kwargs(load_hyperparams(ENV_ID))
    model = CoSyNE(policy, ENV_ID, seed=args.seed, **kwargs)
    evaluation = EvalCallback(
        make_vec_env(ENV_ID, seed=args.seed + 1000),
        eval_freq=1,  # whenever EveryNTimesteps calls it
        n_eval_episodes=10,
        best_model_save_path=str(args.folder),
        log_path=str(args.folder),
        verbose=0,
    )
    champion = SaveChampionCallback(args.folder / "champion")
    model.learn(total_timesteps=args.steps, callback=[EveryNTimesteps(args.eval_freq, evaluation), champion])
    print(f"{ENV_ID}: {model.num_timesteps:,} steps, {model.generation} generations")
    print(f"best evaluation {evaluation.best_mean_reward:.1f}, saved in {args.folder / 'best_model.zip'}")
    print(f"champion saved {champion.saves} times, last with fitness {champion.best_fitness:.1f}")
    for name in ("best_model", "champion"):
        loaded = CoSyNE.load(args.folder / name)
        mean, std = evaluate_policy(loaded, make_vec_env(ENV_ID, seed=args.seed + 2000), n_eval_episodes=20)
        print(f"{name}.zip on 20 fresh episodes: {mean:.1f} +/- {std:.1f}")
    return model, evaluation, champion


if __name__ == "__main__":
    main()
