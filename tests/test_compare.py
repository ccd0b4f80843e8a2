"""``python -m sb3_cosyne.compare``: runs on a step schedule, time budgets, resuming, the table, JSON and plots."""

import importlib.util
import json

import numpy as np
import pytest

# Not imported here: rl_zoo3 patches gymnasium on import (see conftest's rl_zoo3 fixture).
if importlib.util.find_spec("rl_zoo3") is None:
    pytest.skip("the comparison needs the compare extra (rl_zoo3)", allow_module_level=True)
pytest.importorskip("matplotlib", reason="the comparison needs the compare extra (matplotlib)")

from matplotlib import image  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from sb3_cosyne.compare import clock as clock_module  # noqa: E402
from sb3_cosyne.compare.callbacks import ScheduledEvalCallback  # noqa: E402
from sb3_cosyne.compare.clock import TrainingClock  # noqa: E402
from sb3_cosyne.compare.results import Curve, aggregate, default_threshold, markdown_table, summarize  # noqa: E402


@pytest.fixture
def main(rl_zoo3):
    """The comparison's command line; it imports rl_zoo3, whose patches the rl_zoo3 fixture undoes after the test."""
    from sb3_cosyne.compare.cli import main

    return main


@pytest.fixture
def check_algorithm(rl_zoo3):
    from sb3_cosyne.compare.runs import check_algorithm

    return check_algorithm


def make_curve(algo, seed, timesteps, mean_returns, stop="steps"):
    timesteps = np.asarray(timesteps)
    returns = np.repeat(np.asarray(mean_returns, dtype=float)[:, None], 2, axis=1) + [[-1.0, 1.0]]
    cpu = timesteps / 1000.0
    return Curve(algo, seed, timesteps, cpu, 2 * cpu, returns, {"stop": stop})


def test_unknown_algorithm_is_refused_naming_the_known_ones(check_algorithm):
    with pytest.raises(ValueError, match=r"unknown algorithm 'nope'; known: .*cosyne.*ppo"):
        check_algorithm("nope", "CartPole-v1")


def test_env_without_tuned_hyperparameters_is_refused(check_algorithm):
    with pytest.raises(ValueError, match=r"rl_zoo3 has no tuned ppo hyperparameters for 'sb3_cosyne/SinglePole-v0'"):
        check_algorithm("ppo", "sb3_cosyne/SinglePole-v0")
    with pytest.raises(ValueError, match=r"rl_zoo3 has no tuned sac hyperparameters for 'CartPole-v1'.*Pendulum-v1"):
        check_algorithm("sac", "CartPole-v1")
    with pytest.raises(ValueError, match=r"no tuned cosyne hyperparameters for 'FrozenLake-v1'"):
        check_algorithm("cosyne", "FrozenLake-v1")
    check_algorithm("cosyne", "Pendulum-v1")
    check_algorithm("ars", "LunarLander-v3")


def test_cli_checks_every_algorithm_before_training_anything(main, tmp_path):
    with pytest.raises(ValueError, match="unknown algorithm 'ppo2'"):
        main(["--env", "CartPole-v1", "--algos", "cosyne", "ppo2", "--budget-steps", "1000", "--output-dir", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_cli_refuses_bad_numbers(main):
    with pytest.raises(SystemExit):
        main(["--env", "CartPole-v1", "--algos", "ppo", "--budget-steps", "0"])
    with pytest.raises(SystemExit):
        main(["--env", "CartPole-v1", "--algos", "ppo"])  # no step budget and no schedule


def test_thresholds_come_from_the_env_spec_or_the_extra_table():
    assert default_threshold("CartPole-v1") == 475.0
    assert default_threshold("LunarLander-v3") == 200.0
    assert default_threshold("Pendulum-v1") == -200.0


def test_paused_clock_does_not_count():
    clock = TrainingClock()
    assert clock.elapsed() == {"cpu": 0.0, "wall": 0.0} and not clock.running
    clock.resume()
    sum(range(10_000))
    clock.pause()
    first = clock.elapsed()
    sum(range(10_000))
    assert clock.elapsed() == first and first["wall"] > 0
    clock.resume()
    assert clock.seconds("wall") >= first["wall"]


def test_reaching_a_cpu_mark_reads_the_cpu_clock_sparingly_and_never_early(monkeypatch):
    now = {"wall": 0.0, "cpu": 0.0}
    reads = []

    def cpu_clock():
        reads.append(now["cpu"])
        return now["cpu"]

    monkeypatch.setitem(clock_module.CLOCKS, "cpu", cpu_clock)
    monkeypatch.setitem(clock_module.CLOCKS, "wall", lambda: now["wall"])
    monkeypatch.setattr(clock_module.time, "perf_counter", lambda: now["wall"])

    def advance(wall: float, cpu: float) -> None:
        now["wall"] += wall
        now["cpu"] += cpu

    clock = TrainingClock()
    assert not clock.reached("cpu", 1e-9)  # paused: nothing counted
    clock.resume()
    # CPU time at half the wall rate, 1 µs of wall per call: the mark of 0.01 s is reached after 20,000 calls.
    answers, cpu_at, reads_before = [], [], None
    for _ in range(30_000):
        advance(1e-6, 0.5e-6)
        answers.append(clock.reached("cpu", 0.01))
        cpu_at.append(now["cpu"])
        if answers[-1] and reads_before is None:
            reads_before = len(reads)
    first = answers.index(True)
    assert cpu_at[first] >= 0.01 and cpu_at[first - 1] < 0.01  # the first call at the mark, never before it
    assert all(answers[first:])
    assert reads_before < 100  # up to the mark, about one reading per millisecond, not one per call
    # Paused, nothing counts; resumed, it counts on from there.
    clock.pause()
    advance(1.0, 1.0)
    assert not clock.reached("cpu", 0.02)
    clock.resume()
    advance(0.005, 0.005)
    assert not clock.reached("cpu", 0.03) and clock.reached("cpu", 0.02)
    assert clock.reached("wall", 0.01) and not clock.reached("wall", 1.0)


class FixedClock(TrainingClock):
    """A clock that reads what the test sets."""

    def __init__(self):
        super().__init__()
        self.value = 0.0

    def seconds(self, name):
        return self.value


def test_evaluation_is_due_at_the_next_step_or_clock_mark(tmp_path):
    clock = FixedClock()
    callback = ScheduledEvalCallback(
        make_vec_env("CartPole-v1"), clock, str(tmp_path), eval_every=100, eval_every_seconds=2.0, clock_name="cpu"
    )
    callback.num_timesteps, clock.value = 99, 1.99
    assert not callback._due()
    clock.value = 2.0
    assert callback._due()
    callback.num_timesteps, clock.value = 100, 0.0
    assert callback._due()
    with pytest.raises(ValueError, match="eval_every must be a positive"):
        ScheduledEvalCallback(make_vec_env("CartPole-v1"), clock, str(tmp_path), eval_every=0)


def test_aggregate_interpolates_over_the_range_every_run_covers():
    a = make_curve("x", 1, [0, 100, 200], [0.0, 10.0, 20.0])
    b = make_curve("x", 2, [0, 50, 150], [0.0, 30.0, 30.0])
    grid, mean, std = aggregate([a, b], "timesteps", n_points=4)
    np.testing.assert_allclose(grid, [0, 50, 100, 150])
    # a: 0, 5, 10, 15; b: 0, 30, 30, 30
    np.testing.assert_allclose(mean, [0.0, 17.5, 20.0, 22.5])
    np.testing.assert_allclose(std, [0.0, 12.5, 10.0, 7.5])
    grid, _, _ = aggregate([a, b], "wall_s", n_points=3)
    np.testing.assert_allclose(grid, [0.0, 0.15, 0.3])


def test_summary_counts_the_first_evaluation_reaching_the_threshold():
    curves = [
        make_curve("x", 1, [0, 100, 200, 300], [0.0, 50.0, 20.0, 60.0]),
        make_curve("x", 2, [0, 120, 240, 360], [0.0, 10.0, 50.0, 50.0], stop="time"),
        make_curve("x", 3, [0, 100, 200, 300], [0.0, 10.0, 20.0, 30.0]),
    ]
    summary = summarize(curves, threshold=50.0)
    assert summary["solved"] == 2
    assert summary["steps_to_threshold"] == 170  # median of 100 and 240
    assert summary["cpu_s_to_threshold"] == pytest.approx(0.17)
    assert summary["wall_s_to_threshold"] == pytest.approx(0.34)
    assert summary["final_mean"] == pytest.approx(140 / 3)
    assert summary["final_std"] == pytest.approx(np.std([60.0, 50.0, 30.0]))
    assert summary["steps_trained"] == 300 and summary["stops"] == ["steps", "time"]
    assert summarize(curves, threshold=None)["solved"] == 0

    table = markdown_table({"x": summary, "y": summarize(curves[2:], 50.0)}, 50.0)
    lines = table.splitlines()
    assert lines[0].startswith("| algo | final return | reached 50 |")
    assert lines[2] == "| x | 46.7 ± 12.5 | 2/3 | 170 | 0.17 | 0.34 | 300 | 0.3 | steps, time |"
    assert lines[3] == "| y | 30.0 ± 0.0 | 0/1 | — | — | — | 300 | 0.3 | steps |"


def test_comparison_runs_on_the_step_schedule_writes_results_and_resumes(main, tmp_path, capsys):
    argv = ["--env", "CartPole-v1", "--algos", "cosyne", "ppo", "--seeds", "2", "--budget-steps", "2048"]
    argv += ["--eval-every", "512", "--eval-episodes", "2", "--output-dir", str(tmp_path)]
    curves = main(argv)
    assert [(curve.algo, curve.seed) for curve in curves] == [("cosyne", 1), ("cosyne", 2), ("ppo", 1), ("ppo", 2)]
    for curve in curves:
        run = tmp_path / curve.algo / f"CartPole-v1_{curve.seed}"
        record = json.loads((run / "run.json").read_text())
        assert record["stop"] == "steps" and curve.timesteps[-1] == record["timesteps"] >= 2048
        assert curve.timesteps[0] == 0 and curve.cpu_s[0] == 0.0
        assert np.all(np.diff(curve.timesteps) > 0) and np.all(np.diff(curve.cpu_s) >= 0)
        assert curve.returns.shape == (len(curve.timesteps), 2)
        assert (run / "CartPole-v1.zip").exists() and (run / "best_model.zip").exists()
    ppo = curves[2]
    # PPO's 8 lanes step 8 at a time: it is evaluated exactly on the schedule.
    np.testing.assert_array_equal(ppo.timesteps, [0, 512, 1024, 1536, 2048])
    for cosyne in curves[:2]:
        # CoSyNE's compiled CartPole reports whole episodes: each evaluation comes at the first episode end past a
        # scheduled point, once per point, at most one episode (500 steps) late.
        scheduled = np.arange(1, len(cosyne.timesteps) - 1) * 512
        late = cosyne.timesteps[1:-1] - scheduled
        assert np.all((late >= 0) & (late < 500)), cosyne.timesteps

    summary = json.loads((tmp_path / "CartPole-v1.json").read_text())
    assert summary["threshold"] == 475.0 and summary["settings"]["eval_every"] == 512
    assert [c["mean_return"] for c in summary["curves"]] == [c.mean_returns.tolist() for c in curves]
    assert summary["summaries"]["ppo"]["steps_trained"] == 2048
    table = (tmp_path / "CartPole-v1.md").read_text()
    assert table.splitlines()[2].startswith("| cosyne |") and "/2 |" in table.splitlines()[3]
    for suffix in ("steps", "wall", "cpu"):
        assert image.imread(tmp_path / f"CartPole-v1-{suffix}.png").shape == (450, 700, 4)

    # Again: nothing is trained, the same curves come back.
    capsys.readouterr()
    modified = (tmp_path / "ppo" / "CartPole-v1_1" / "run.json").stat().st_mtime_ns
    again = main(argv)
    assert capsys.readouterr().out.count("finished before, kept") == 4
    assert (tmp_path / "ppo" / "CartPole-v1_1" / "run.json").stat().st_mtime_ns == modified
    for old, new in zip(curves, again, strict=True):
        np.testing.assert_array_equal(old.returns, new.returns)

    # An unfinished run is trained again; a finished one with other settings is refused.
    (tmp_path / "ppo" / "CartPole-v1_2" / "run.json").unlink()
    rerun = main(argv)
    np.testing.assert_array_equal(rerun[3].returns, curves[3].returns)  # same seed, same result
    with pytest.raises(ValueError, match="was run with other settings"):
        main([*argv, "--eval-episodes", "3"])


def test_time_budget_stops_ars_which_ignores_callbacks_returning_false(main, tmp_path):
    curves = main(
        ["--env", "CartPole-v1", "--algos", "ars", "--seeds", "1", "--budget-steps", "10000000", "--budget-seconds", "0.3"]
        + ["--clock", "cpu", "--eval-every", "5000000", "--eval-episodes", "1", "--output-dir", str(tmp_path)]
    )
    record = curves[0].record
    assert record["stop"] == "time" and record["cpu_s"] >= 0.3
    assert record["timesteps"] < 10_000_000
    # Evaluated before training and once at the end, where it stopped.
    np.testing.assert_array_equal(curves[0].timesteps, [0, record["timesteps"]])


def test_log_grid_starts_at_the_first_positive_x_every_run_has():
    a = make_curve("x", 1, [0, 10, 100, 1000], [0.0, 1.0, 2.0, 3.0])
    b = make_curve("x", 2, [0, 100, 10_000], [0.0, 2.0, 4.0])
    grid, mean, _ = aggregate([a, b], "timesteps", n_points=3, log=True)
    np.testing.assert_allclose(grid, [100.0, np.sqrt(100 * 1000), 1000.0])
    assert mean[0] == pytest.approx(2.0) and mean[-1] == pytest.approx((3.0 + 2.0 + 2.0 * 900 / 9900) / 2)
