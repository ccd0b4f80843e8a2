"""The examples run (in their quick modes) and do what they promise."""

import math
import runpy
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_cosyne import CoSyNE

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str):
    """Run ``examples/<name>.py``'s ``main`` with the given command-line arguments."""
    namespace = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=name)
    return namespace["main"](list(args))


def moons_main(*args: str) -> float:
    return run_example("moons_classifier", *args)


@pytest.mark.parametrize("permutation", ["all", "proportional", "none"])
def test_moons_classifier_quick_run_learns_a_nonlinear_boundary(permutation, capsys):
    # Quick mode is 60 generations of pop 40. Measured over seeds 0-19: final accuracy >= 0.925 in every mode
    # (seed 0: 0.98 / 0.985 / 1.0). The best of the random initial population reaches only 0.80-0.875, and the
    # best straight line on this data set 0.895, so > 0.9 shows that evolution found a curved boundary.
    accuracy = moons_main("--quick", "--permutation", permutation)
    assert accuracy > 0.9
    output = capsys.readouterr().out
    assert "generation" in output and "final training accuracy" in output


@pytest.mark.slow
def test_moons_classifier_full_run_reaches_95_percent():
    # Measured over seeds 0-19: the default 300 generations reach 1.0 every time; 80 generations already give >= 0.96.
    assert moons_main() >= 0.95


def test_quickstart_solves_cartpole_and_reloads(tmp_path, capsys):
    namespace = runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="quickstart")
    mean = namespace["main"]("CartPole-v1", 30_000, 0, str(tmp_path / "cosyne_cartpole"))
    assert mean >= 475
    assert (tmp_path / "cosyne_cartpole.zip").exists()
    output = capsys.readouterr().out
    assert f"reloaded from {tmp_path / 'cosyne_cartpole'}.zip: evaluation {mean:.1f}" in output


def test_mountain_car_reaches_the_flag_and_the_saved_model_scores_the_same(tmp_path):
    # Measured: seeds 0, 1, 2 score 92.5, 93.9, 96.3 after 15,000 steps (two generations); 90 counts as solved.
    mean, path = run_example("mountain_car", "--steps", "15000", "--path", str(tmp_path / "car"))
    assert mean >= 90
    loaded = CoSyNE.load(path)
    reloaded_mean, _ = evaluate_policy(loaded, make_vec_env("MountainCarContinuous-v0", seed=1000), n_eval_episodes=10)
    assert reloaded_mean == pytest.approx(mean, abs=1e-9)


def test_custom_env_is_learned_far_beyond_doing_nothing(capsys):
    # Measured for seed 0 after 20,000 steps: -13.1 against -74.8 for zero force.
    trained, idle = run_example("custom_env", "--steps", "20000")
    assert idle < -60 and trained > idle + 40
    assert "PointToTarget-v0" in capsys.readouterr().out


def test_save_best_keeps_the_best_evaluation_and_the_last_champion(tmp_path):
    folder = tmp_path / "best"
    model, evaluation, champion = run_example(
        "save_best", "--steps", "100000", "--eval-freq", "20000", "--folder", str(folder)
    )
    log = np.load(folder / "evaluations.npz")
    # EveryNTimesteps runs EvalCallback every 20,000 env steps although CoSyNE calls callbacks once per episode here.
    assert len(log["timesteps"]) == model.num_timesteps // 20_000
    assert np.all(np.diff(log["timesteps"]) >= 20_000)
    assert evaluation.best_mean_reward == pytest.approx(log["results"].mean(axis=1).max())
    assert math.isfinite(CoSyNE.load(folder / "best_model.zip").best_fitness)
    # The last file saved holds the trained model's champion and its score (which re-tests can lower).
    assert champion.saves >= 2
    saved = CoSyNE.load(folder / "champion.zip")
    np.testing.assert_array_equal(saved.champion_params(), model.champion_params())
    assert saved.best_fitness == model.best_fitness == champion.best_fitness


def test_lunar_lander_trains_on_two_lanes_and_saves(tmp_path):
    pytest.importorskip("Box2D", reason="LunarLander needs the box2d extra")
    # One generation (40 networks, 3 episodes each) on two lanes.
    path = str(tmp_path / "ll")
    mean, path = run_example("lunar_lander", "--steps", "1", "--n-envs", "2", "--episodes", "3", "--path", path)
    assert math.isfinite(mean) and -1000 < mean < 400
    loaded = CoSyNE.load(path)
    assert loaded.generation == 1 and loaded.num_timesteps > 1000


def test_bipedal_walker_quick_run_writes_a_gif_of_the_champion(tmp_path):
    pytest.importorskip("Box2D", reason="BipedalWalker needs the box2d extra")
    from PIL import Image

    gif = tmp_path / "walker.gif"
    result = run_example("bipedal_walker", "--quick", "--gif", str(gif), "--path", str(tmp_path / "walker"))
    assert math.isfinite(result["mean"]) and CoSyNE.load(result["path"]).generation >= 1
    with Image.open(gif) as image:
        # Quick episodes last at most 100 steps: the first frame, every third step and the last. Pillow merges
        # identical consecutive frames (a walker standing still) and adds up their durations (60 ms each).
        assert 2 <= result["gif_frames"] <= 1 + 100 // 3 + 1
        assert 2 <= image.n_frames <= result["gif_frames"]
        assert image.size == (300, 200)
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
        assert sum(durations) == 60 * result["gif_frames"]
        assert len(set(np.asarray(image.convert("RGB")).reshape(-1, 3).sum(axis=1).tolist())) > 10  # not a blank frame
    # The saved walker, loaded instead of trained, scores the same on the same episodes.
    again = run_example("bipedal_walker", "--quick", "--load", result["path"], "--gif", str(tmp_path / "again.gif"))
    assert again["mean"] == result["mean"] and again["gif_return"] == result["gif_return"]
