"""The scaling and training-speed benchmarks: what they measure holds together, whatever the timings."""

import sys

import pytest

from benchmarks import forward_training, overhead, scaling, task_round_trip
from sb3_cosyne.cosyne.lane_step import advance_lanes, direct_call


def test_scaling_runs_only_the_configurations_asked_for_and_ends_identical(monkeypatch):
    # Without a Ray configuration, the benchmark does not import Ray: an import would fail here.
    monkeypatch.setitem(sys.modules, "ray", None)
    report = scaling.run("CartPole-v1", workers=2, generations=2, repeats=1, members_per_task=None, configs=["Subproc"])
    assert [row["configuration"] for row in report["rows"]] == [
        "1 process",
        "SubprocVecEnv, 2 lanes",
        "SubprocEvaluator, 2 processes",
    ]
    assert report["identical populations"]
    assert report["rows"][0]["speed-up"] == 1.0
    assert all(row["median generations/s"] > 0 and row["median CPU s/generation"] > 0 for row in report["rows"])


def test_scaling_times_independent_copies_and_each_setting_asked_for(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    report = scaling.run(
        "CartPole-v1",
        workers=2,
        generations=2,
        repeats=1,
        members_per_task=None,
        configs=["Independent", "SubprocEvaluator"],
        splits=["3", "shrinking"],
        queue_depths=[1, 2],
    )
    assert [row["configuration"] for row in report["rows"]] == [
        "1 process",
        "Independent runs, 2 processes side by side",
        "SubprocEvaluator, 2 processes, 3 tasks/worker, queue 1",
        "SubprocEvaluator, 2 processes, 3 tasks/worker, queue 2",
        "SubprocEvaluator, 2 processes, shrinking tasks, queue 1",
        "SubprocEvaluator, 2 processes, shrinking tasks, queue 2",
    ]
    # The copies keep training until both are timed, but report the population of their last timed generation.
    assert report["rows"][1]["population as 1 process's"]
    assert all(row["median generations/s"] > 0 and row["median CPU s/generation"] > 0 for row in report["rows"])


@pytest.mark.parametrize("forward", ["numba", "torch:cpu"])
def test_training_speed_counts_the_timed_generations_steps(forward):
    rate, n_params = forward_training.steps_per_second("CartPole-v1", 2, 8, forward, seed=0, generations=2)
    # 4 inputs, two hidden layers of 8 and 2 outputs, with biases
    assert n_params == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2
    assert rate > 0


def test_generation_clock_records_the_steps_at_each_generation_end():
    from sb3_cosyne import CoSyNE

    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=6, seed=0)
    clock = scaling.GenerationClock(3, list, warmup=1)
    model.learn(10**9, callback=clock)
    assert len(clock.ends) == len(clock.timesteps) == 4
    assert clock.timesteps == sorted(clock.timesteps) and clock.timesteps[0] > 0
    # Training stops at the first step after the last timed generation.
    assert model.num_timesteps == clock.timesteps[-1] + 1


def test_task_round_trip_times_both_kinds_of_wait():
    rows = task_round_trip.measure("SubprocEvaluator", n_tasks=5, pause_s=0.001)
    assert [row["worker idle before each task"] for row in rows] == ["no", "1 ms"]
    for row in rows:
        assert row["backend"] == "SubprocEvaluator"
        # CPU time is read in clock ticks (10 ms): a few short tasks may read as none.
        assert row["round trip ms (median)"] > 0 and row["CPU ms per task, worker"] >= 0


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_overhead_floor_enters_a_kernel_with_the_lane_steps_argument_types(env_id):
    model = overhead.build_model(env_id, 2, seed=0)
    model.learn(300)
    compiled = len(advance_lanes.overloads)
    # the evaluation compiled (or loaded) the lane step for these types: resolving them again adds nothing
    direct_call(advance_lanes, *overhead.lane_step_arguments(model, 2))
    assert len(advance_lanes.overloads) == compiled


def test_overhead_measures_one_run_and_its_replays():
    repeat = overhead.measure("CartPole-v1", lanes=2, steps=300, seed=0, render_mode=None)
    assert repeat.steps >= 300
    assert min(repeat.rollout_s, repeat.replay_s, repeat.floor_s, repeat.random_s) > 0
