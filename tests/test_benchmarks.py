"""The scaling and training-speed benchmarks: what they measure holds together, whatever the timings."""

import json
import math
import sys

import gymnasium as gym
import numpy as np
import pytest

from benchmarks import forward_training, overhead, render, scaling, task_round_trip
from benchmarks.time_to_solve import cli, models, report, runner, tracking, worker
from sb3_cosyne.evaluation.lane_step import advance_lanes, direct_call


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


# --- time to solve (benchmarks/time_to_solve/) ---


def tts_run(algo, seed, solved, cpu_s=None, steps=None, eval_final=None, env="CartPole-v1", cold=False):
    """A run record as the time-to-solve worker writes it (only the fields the tables read)."""
    return {
        "env": env,
        "algo": algo,
        "seed": seed,
        "cold": cold,
        "solved": solved,
        "stop": "solved" if solved else "cpu_cap",
        "cpu_s": cpu_s,
        "wall_s": cpu_s,
        "steps": steps,
        "eval10": eval_final,
        "eval_final": eval_final,
        "steps_run": steps or 1000,
        "cpu_run_s": cpu_s or 5.0,
        "max_cpu": 5.0,
        "threshold": 475.0,
        "budget": 100_000,
        "import_cpu_s": 0.1,
    }


def test_time_to_solve_specs_add_one_cold_cosyne_run_per_env():
    specs = runner.make_specs(
        ["CartPole-v1", "Acrobot-v1"], ["cosyne", "ppo"], [0, 1], {"max_cpu": 5.0, "confirm": False}, cold=True
    )
    assert len(specs) == 2 * 2 * 2 + 2
    assert {runner.run_key(spec) for spec in specs if spec["cold"]} == {
        ("CartPole-v1", "cosyne", 0, True),
        ("Acrobot-v1", "cosyne", 0, True),
    }
    assert all(spec["mode"] == "run" and spec["max_cpu"] == 5.0 for spec in specs)


def test_time_to_solve_published_table_gives_medians_of_solved_seeds_and_speed_ups():
    runs = [
        tts_run("cosyne", 0, True, 1.0, 100, 480.0),
        tts_run("cosyne", 1, True, 3.0, 300, 490.0),
        tts_run("cosyne", 2, False),
        tts_run("ppo", 0, True, 8.0, 50, 500.0),
        tts_run("ppo", 1, True, 12.0, 70, 500.0),
        tts_run("ppo", 2, True, 10.0, 60, 500.0),
        tts_run("cmaes", 0, False),
        tts_run("cosyne", 0, True, 20.0, 100, 480.0, cold=True),
    ]
    document = {
        "seeds": [0, 1, 2],
        "settings": {"envs": ["CartPole-v1"], "algos": ["cosyne", "cmaes", "ppo"]},
        "results": runs,
    }
    lines = report.published_table(document).splitlines()
    assert lines[2] == "| CartPole-v1 | 475 | 100,000 | cosyne | 2/3 | 200 | 2 | 485.0 | — |"
    assert lines[3] == "|  |  |  | cmaes | 0/1 | — | — | — | — |"
    # CoSyNE's median of its solved seeds is 2 CPU s, PPO's 10: a speed-up of 5.
    assert lines[4] == "|  |  |  | ppo | 3/3 | 60 | 10 | 500.0 | 5.00 |"
    assert lines[-1] == "| CartPole-v1 | 0 | 20 | 1 | 20 | 1 | 0.1 | 0.1 |"


def test_time_to_solve_report_names_the_final_episodes_the_runs_were_scored_on():
    runs = [{**tts_run(algo, 0, True, 2.0, 100, 480.0), "final_episodes": 100} for algo in ("cosyne", "ppo")]
    markdown = report.report(["CartPole-v1"], ["cosyne", "ppo"], [0], runs, confirm=True)
    assert "| median 100-episode return |" in markdown and "and 100 fresh episodes (seeds 20000+i) confirm it" in markdown
    # Runs recorded before --final-episodes existed were scored on 50.
    markdown = report.report(["CartPole-v1"], ["cosyne"], [0], [tts_run("cosyne", 0, True, 2.0, 100, 480.0)])
    assert "| median 50-episode return |" in markdown and "the 50-episode return (seeds 20000+i) scores" in markdown
    with pytest.raises(ValueError, match=r"different numbers of final episodes \[50, 100\]"):
        report.report(["CartPole-v1"], ["ppo"], [0, 1], [*runs, tts_run("ppo", 1, True, 2.0, 100, 480.0)])
    # The published table's column is the same whatever the count, so that a 100-episode file joins a 50-episode one.
    document = {"seeds": [0], "settings": {"envs": ["CartPole-v1"], "algos": ["cosyne", "ppo"]}, "results": runs}
    assert "| median final return |" in report.published_table(document).splitlines()[0]


def test_time_to_solve_resume_keeps_only_runs_measured_under_the_same_criterion(tmp_path, capsys):
    out = tmp_path / "tts.json"
    runs = [tts_run("cosyne", 0, True, 2.0), {**tts_run("ppo", 0, True, 2.0), "confirm": True, "final_episodes": 100}]
    out.write_text(json.dumps({"results": runs}))
    kept = runner.load_runs(out, {"max_cpu": 5.0, "confirm": True, "final_episodes": 100})
    assert [run["algo"] for run in kept] == ["ppo"]
    assert "dropping 1 runs measured with another --max-cpu, --confirm, --final-episodes" in capsys.readouterr().err
    # A run recorded before --confirm and --final-episodes existed was measured without --confirm, on 50 episodes.
    assert runner.load_runs(out, {"max_cpu": 5.0, "confirm": False, "final_episodes": 50}) == runs[:1]


def test_time_to_solve_tracker_scores_a_passing_policy_on_the_final_episodes():
    tracker = tracking.Tracker("Acrobot-v1", max_cpu=60.0, confirm=True, final_episodes=3)
    tracker.clock.resume()
    played = []

    def policy(obs, episode_start):
        played.append(episode_start)
        return 0  # Acrobot's every step costs -1: fails the 10-episode check

    tracker.check(tracker.eval_every, lambda: policy)
    assert sum(played) == 10 and tracker.best_eval_final == -math.inf
    tracker.threshold = -math.inf  # now every 10-episode check passes: the final episodes score it
    with pytest.raises(tracking.Solved):
        tracker.check(2 * tracker.eval_every, lambda: policy)
    assert sum(played) == 10 + 10 + 3 and tracker.solution["steps"] == 2 * tracker.eval_every


def test_time_to_solve_tracker_stops_out_of_time_and_records_failed_evaluations():
    tracker = tracking.Tracker("CartPole-v1", max_cpu=0.0)
    tracker.clock.resume()
    assert tracker.eval_every == 100  # 0.1% of CartPole's 100,000-step budget
    always_left = lambda: lambda obs, episode_start: 0  # noqa: E731 (falls over in about 10 steps)
    tracker.check(50, always_left)  # no evaluation due before step 100, nor a look at the clock
    with pytest.raises(tracking.OutOfTime):
        tracker.check(100, always_left)
    assert 8 <= tracker.best_eval10 <= 11 and tracker.solution == {}


def test_time_to_solve_builds_ppo_and_ars_with_rl_zoo3s_tuned_hyperparameters(tmp_path, rl_zoo3):
    ppo = models.build_model("ppo", "CartPole-v1", seed=3, scratch=tmp_path)
    # rl_zoo3's ppo.yml: 8 envs, n_steps 32, a linear learning-rate schedule from 0.001
    assert (ppo.n_envs, ppo.n_steps, ppo.seed) == (8, 32, 3) and ppo.lr_schedule(0.5) == pytest.approx(0.0005)
    ars = models.build_model("ars", "Pendulum-v1", seed=3, scratch=tmp_path)
    # ars.yml: observations normalized (not rewards), one hidden layer of 16, and one env (no AsyncEval workers)
    normalize = ars.get_vec_normalize_env()
    assert normalize is not None and normalize.norm_obs and not normalize.norm_reward and ars.n_envs == 1
    assert ars.policy.net_arch == [16] and ars.n_delta == 4


@pytest.mark.parametrize("algo", ["cosyne", "cmaes", "ars", "ppo"])
def test_time_to_solve_worker_times_a_run_of_each_algorithm(algo, request):
    if algo in ("ars", "ppo"):
        request.getfixturevalue("rl_zoo3")  # the worker imports rl_zoo3, which patches gymnasium's TimeLimit
    record = worker.run_one({"env": "CartPole-v1", "algo": algo, "seed": 0, "max_cpu": 1.0, "cold": False})
    assert record["algo"] == algo and record["stop"] in ("solved", "cpu_cap")
    if record["solved"]:
        assert record["eval10"] >= 475 and record["eval_final"] is not None and 0 < record["steps"] <= record["steps_run"]
        assert 0 < record["cpu_s"] <= record["cpu_run_s"] + 1e-9
    else:
        # the cap is checked every 256 calls and at each evaluation: it stops soon after 1 CPU s
        assert record["cpu_run_s"] >= 1.0 and record["cpu_s"] is None
    assert record["import_cpu_s"] >= 0 and record["budget"] == 100_000 and record["threshold"] == 475


def test_time_to_solve_command_line_writes_the_results_document_and_resumes(tmp_path, capsys):
    out = tmp_path / "tts.json"
    argv = ["--envs", "CartPole-v1", "--algos", "cmaes", "--seeds", "1", "--max-cpu", "2", "--jobs", "1", "--out", str(out)]
    runs = cli.main(argv)
    document = json.loads(out.read_text())
    assert document["benchmark"] == "time_to_solve" and document["seeds"] == [0]
    assert document["command"] == "python -m benchmarks.time_to_solve " + " ".join(argv)
    assert document["machine"]["cores"] >= 1 and "numpy" in document["machine"] and document["date"]
    assert document["results"] == runs and [(run["algo"], run["seed"]) for run in runs] == [("cmaes", 0)]
    assert "### CartPole-v1: threshold 475" in capsys.readouterr().out
    # Resumed, nothing is left to run: the same run comes back.
    assert cli.main([*argv, "--resume"]) == runs


# --- published results (benchmarks/render.py) ---


def paper_document():
    """A tiny paper-table results document: one task, two seeds (one failed)."""
    runs = [
        {"seed": 0, "solved": True, "evaluations": 40, "cpu_s": 0.5, "generalization": 300},
        {"seed": 1, "solved": False, "evaluations": 30, "cpu_s": 1.5, "generalization": None},
    ]
    task = {"name": "1a: one pole", "paper_cosyne": 98, "paper_others": {"CMA-ES": 283}, "runs": runs}
    return {
        "benchmark": "paper_table",
        "command": "python -m benchmarks.paper_table --runs 2",
        "date": "2026-01-02T03:04:05+00:00",
        "machine": {"cores": 2, "cpu": "Some CPU", "python": "3.11.7", "numpy": "2.0", "numba": "0.60", "torch": "2.3"},
        "seeds": [0, 1],
        "settings": {"runs": 2},
        "results": {"1a": task},
    }


@pytest.fixture
def docs_tree(tmp_path):
    """A repository with one results file, a README with its marker in two places and a page without markers."""
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "tiny.json").write_text(json.dumps(paper_document()))
    marked = "Before.\n\n<!-- results: tiny -->\nold table\n<!-- /results -->\n\nAfter.\n"
    (tmp_path / "README.md").write_text(marked)
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n" + marked)
    (tmp_path / "docs" / "plain.md").write_text("Markers look like `<!-- results: NAME -->`, on lines of their own.\n")
    return tmp_path


def test_render_fills_every_marker_and_check_catches_a_hand_edit(docs_tree, capsys):
    assert render.main(["--check", "--root", str(docs_tree)]) == 1
    assert "README.md: '<!-- results: tiny -->'" in capsys.readouterr().err
    assert render.main(["--root", str(docs_tree)]) == 0
    readme = (docs_tree / "README.md").read_text()
    assert readme == (docs_tree / "docs" / "page.md").read_text().removeprefix("# A page\n\n")
    assert readme.startswith("Before.\n\n<!-- results: tiny -->\n\n| task | mean evaluations |") and "old table" not in readme
    assert "| 1a: one pole | 40 | 40 | 1/2 | 98 | 0.41 | CMA-ES 283 | 1.00 | 300 (1/1 ≥ 200) |" in readme
    assert (
        "Rendered by `python -m benchmarks.render` from `docs/results/tiny.json`, measured with "
        "`python -m benchmarks.paper_table --runs 2` on 2026-01-02: 2 cores (Some CPU), Python 3.11.7, numpy 2.0, "
        "numba 0.60, torch 2.3.\n\n<!-- /results -->\n\nAfter.\n"
    ) in readme
    assert (docs_tree / "docs" / "plain.md").read_text().startswith("Markers look like `<!-- results: NAME -->`, on")
    assert render.main(["--check", "--root", str(docs_tree)]) == 0
    (docs_tree / "docs" / "page.md").write_text(readme.replace("| 40 | 40 |", "| 39 | 40 |"))
    capsys.readouterr()
    assert render.main(["--check", "--root", str(docs_tree)]) == 1
    assert capsys.readouterr().err.strip().startswith("docs/page.md: '<!-- results: tiny -->' differs")


def test_render_fails_on_a_marker_without_results_or_closing(docs_tree, capsys):
    (docs_tree / "docs" / "page.md").write_text("<!-- results: missing -->\n<!-- /results -->\n")
    assert render.main(["--root", str(docs_tree)]) == 1
    error = capsys.readouterr().err
    assert "docs/page.md" in error and "missing.json" in error
    (docs_tree / "docs" / "page.md").write_text("<!-- results: tiny -->\nno end\n")
    assert render.main(["--check", "--root", str(docs_tree)]) == 1
    assert "has no '<!-- /results -->'" in capsys.readouterr().err


def hard_tasks_document(env, fast_path="on"):
    """A tiny hard-tasks results document: one env, one seed."""
    record = {
        "env": env, "seed": 0, "overrides": {}, "threshold": -200.0, "steps": 1000, "cpu_s": 2.0,
        "final_confirm_mean": -150.0, "solved_at": {"steps": 500},
    }  # fmt: skip
    document = paper_document() | {"benchmark": "hard_tasks", "command": f"python -m benchmarks.hard_tasks --envs {env}"}
    return document | {"settings": {"fast_path": fast_path}, "results": [record]}


def test_render_joins_the_tables_of_several_results_files_under_one_marker(docs_tree, capsys):
    results = docs_tree / "docs" / "results"
    (results / "one.json").write_text(json.dumps(hard_tasks_document("Pendulum-v1")))
    (results / "two.json").write_text(json.dumps(hard_tasks_document("Acrobot-v1", fast_path="off")))
    (docs_tree / "docs" / "page.md").write_text("<!-- results: one two -->\n<!-- /results -->\n")
    assert render.main(["--root", str(docs_tree)]) == 0
    page = (docs_tree / "docs" / "page.md").read_text()
    rows = [line.split(" | ")[0] for line in page.splitlines() if line.startswith("| ")]
    assert rows == ["| env", "| Pendulum-v1", "| Acrobot-v1 on the Python env"]  # one header, rows in marker order
    assert "Rendered by `python -m benchmarks.render`, row by row, from:\n\n- `docs/results/one.json`, measured" in page
    assert page.count("\n- `docs/results/") == 2 and "--envs Acrobot-v1` on 2026-01-02" in page
    # A table with other columns cannot join: the error names the file and the fix.
    (docs_tree / "docs" / "page.md").write_text("<!-- results: one tiny -->\n<!-- /results -->\n")
    assert render.main(["--root", str(docs_tree)]) == 1
    assert "tiny.json: its table cannot join one.json's" in capsys.readouterr().err


def test_render_joins_leading_tables_and_keeps_what_follows_each(docs_tree, monkeypatch):
    # A renderer may add more after its table (time_to_solve's cold-cache table): that follows the joined table.
    results = docs_tree / "docs" / "results"
    for name, env in (("one", "Pendulum-v1"), ("two", "Acrobot-v1")):
        (results / f"{name}.json").write_text(json.dumps(hard_tasks_document(env)))
    table = render.RENDERERS["hard_tasks"]
    second = "Then:\n\n| first env |\n|---|\n| {} |"
    monkeypatch.setitem(
        render.RENDERERS, "hard_tasks", lambda doc: f"{table(doc)}\n\n{second.format(doc['results'][0]['env'])}"
    )
    (docs_tree / "docs" / "page.md").write_text("<!-- results: one two -->\n<!-- /results -->\n")
    assert render.main(["--root", str(docs_tree)]) == 0
    page = (docs_tree / "docs" / "page.md").read_text()
    joined = page.split("\n\n")[1].splitlines()
    assert [line.split(" | ")[0] for line in joined] == [
        "| env",
        "|---|---|---|---|---|---|---|",
        "| Pendulum-v1",
        "| Acrobot-v1",
    ]
    assert "| Acrobot-v1 |" in page.split("Then:")[0]
    assert page.count("Then:") == 2
    assert page.index("| Pendulum-v1 |\n\n") < page.index("| Acrobot-v1 |\n\n") < page.index("Rendered by")


def test_committed_result_tables_match_their_json():
    # A table in README.md or docs/ edited by hand, or results committed without rendering, fails here.
    assert render.main(["--check"]) == 0


def test_hard_tasks_confirms_the_returned_network_as_predict_plays_it_on_unused_seeds():
    from benchmarks import hard_tasks
    from sb3_cosyne import CoSyNE

    spec = dict(env="Acrobot-v1", seed=0, steps=4000, check_every=2000, overrides={"pop_size": 6}, fast_path=True)
    record = hard_tasks.run_one(spec)
    assert [check["steps"] >= 2000 * (i + 1) for i, check in enumerate(record["checks"])] == [True] * len(record["checks"])
    assert len(record["checks"]) >= 1 and record["steps"] >= 4000 and record["threshold"] == -100.0
    # The batched confirmation equals model.predict's episodes on the same reset seeds.
    model = CoSyNE("LinearPolicy", "Acrobot-v1", pop_size=12, seed=0, init_scale=10.0).learn(20_000)
    batched = hard_tasks.confirm(model, "Acrobot-v1", episodes=4)
    played = []
    for i in range(4):
        env = gym.make("Acrobot-v1")
        obs, _ = env.reset(seed=hard_tasks.CONFIRM_SEED + i)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(model.predict(obs, deterministic=True)[0])
            total, done = total + float(reward), terminated or truncated
        played.append(total)
    assert len(set(played)) > 1
    np.testing.assert_allclose(batched, played)
    assert hard_tasks.CONFIRM_SEED > 2**31 - 2  # above every training seed


def test_hard_tasks_table_counts_seeds_solved_on_their_confirmation():
    from benchmarks import hard_tasks

    def record(seed, final, solved_at=None, overrides=None):
        solved = None if solved_at is None else {"steps": solved_at}
        return dict(env="LunarLander-v3", seed=seed, threshold=200.0, final_confirm_mean=final, steps=10**6, cpu_s=60.0,
                    solved_at=solved, overrides=overrides or {})  # fmt: skip

    runs = [record(1, 250.0, 400_000), record(0, 150.0, 900_000), record(2, 210.0, 600_000), record(3, 100.0)]
    baseline = [record(0, 120.0, overrides={"n_eval_episodes": 3}), record(1, 90.0, overrides={"n_eval_episodes": 3})]
    table = hard_tasks.markdown_table({"results": runs + baseline})
    # Seed 0 passed a check, then its returned network fell below the threshold: solved along the way, not at the end.
    assert (
        "| LunarLander-v3 | 2/4 (≥ 200) | 180.0 | 600,000 (3/4 seeds) | 1,000,000 | 60 | 0: 150, 1: 250, 2: 210, 3: 100 |"
        in table
    )
    # A baseline's runs (--baseline) get a row of their own, labelled with their overrides.
    assert "| LunarLander-v3 (n_eval_episodes=3) | 0/2 (≥ 200) | 105.0 | never | 1,000,000 | 60 | 0: 120, 1: 90 |" in table
    # Runs on worker processes give their wall seconds: this process does not see the workers' CPU time.
    on_workers = [{**record(0, 250.0), "workers": 2, "wall_s": 31.0}, {**record(1, 150.0), "workers": 2, "wall_s": 35.0}]
    table = hard_tasks.markdown_table({"results": on_workers})
    assert "| env steps | wall s on 2 workers (median) |" in table and "| 1,000,000 | 33 | 0: 250, 1: 150 |" in table


def test_startup_table_gives_each_env_s_medians_against_the_targets():
    from benchmarks import startup

    median = dict(cold_kernels_cpu_s=6.11, warm_kernels_cpu_s=0.247, numba_floor_cpu_s=0.228, import_cpu_s=1.42,
                  cold_process_cpu_s=11.7, warm_process_cpu_s=5.1)  # fmt: skip
    table = startup.markdown_table({"results": {"CartPole-v1": {"median": median}}})
    assert "(target 5)" in table and "(target 0.1)" in table
    assert "| CartPole-v1 | 6.11 | 0.247 | 0.228 | 1.42 | 11.7 / 5.1 |" in table


def test_compare_document_wraps_a_comparison_for_render(tmp_path):
    import json

    from benchmarks import compare_document, render
    from sb3_cosyne.compare.results import Curve, summarize

    def curve(algo, seed, final):
        record = {"stop": "time"}
        return Curve(algo, seed, np.array([500, 1000]), np.array([1.0, 3.0]), np.array([1.0, 3.0]),
                     np.array([[0.0], [final]]), record)  # fmt: skip

    curves = [curve("cosyne", 1, 250.0), curve("cosyne", 2, 150.0), curve("ppo", 1, 100.0)]
    summaries = {algo: summarize([c for c in curves if c.algo == algo], 200.0) for algo in ("cosyne", "ppo")}
    comparison = {"env": "LunarLander-v3", "threshold": 200.0, "settings": {"budget_seconds": 3}, "summaries": summaries,
                  "curves": [c.to_json() for c in curves]}  # fmt: skip
    (tmp_path / "LunarLander-v3.json").write_text(json.dumps(comparison))
    out = tmp_path / "results" / "compare_lunarlander.json"
    compare_document.main([str(tmp_path / "LunarLander-v3.json"), "--out", str(out), "--", "--env", "LunarLander-v3"])
    document = json.loads(out.read_text())
    assert document["benchmark"] == "compare" and document["seeds"] == [1, 2]
    assert document["command"] == "python -m sb3_cosyne.compare --env LunarLander-v3"
    table = render.RENDERERS["compare"](document)
    assert table.startswith("| algo | final return | reached 200 |")
    assert "| cosyne | 200.0 ± 50.0 | 1/2 |" in table and "| ppo | 100.0 ± 0.0 | 0/1 |" in table


def test_hard_tasks_trains_on_the_entry_s_env_wrapper_and_checks_on_the_plain_env(rl_zoo3):
    from benchmarks import hard_tasks
    from sb3_cosyne.envs import FallPenalty

    shaped = hard_tasks.training_env("BipedalWalker-v3", {"sb3_cosyne.envs.FallPenalty": {"penalty": -5}})
    assert isinstance(shaped, FallPenalty) and shaped.penalty == -5.0
    assert not isinstance(hard_tasks.training_env("BipedalWalker-v3"), FallPenalty)
    overrides = {"pop_size": 6, "env_wrapper": "sb3_cosyne.envs.FallPenalty"}
    spec = dict(env="Acrobot-v1", seed=0, overrides=overrides, fast_path=True)
    assert isinstance(hard_tasks.make_model(spec).env.envs[0].env, FallPenalty)
    assert hard_tasks.make_model({**spec, "overrides": {"pop_size": 6}}).env_id == "Acrobot-v1"


def test_hard_tasks_saves_each_run_s_model_to_load_later(tmp_path, monkeypatch):
    from benchmarks import hard_tasks
    from sb3_cosyne import CoSyNE

    # main sets single-thread variables for its runs' processes: keep them out of this process's later tests. The
    # runs go in this process, which has the kernels compiled already, instead of a pool's.
    monkeypatch.setattr(hard_tasks.os, "environ", dict(hard_tasks.os.environ))
    monkeypatch.setattr(hard_tasks, "run_all", lambda specs, jobs, workers: map(hard_tasks.run_one, specs))
    models, out = tmp_path / "models", tmp_path / "runs.json"
    args = ["--envs", "Acrobot-v1", "--seeds", "0", "--steps", "1500", "--check-every", "9000", "--set", "pop_size=6"]
    hard_tasks.main([*args, "--baseline", "pop_size=8", "--save-dir", str(models), "--out", str(out)])
    records = {record["overrides"]["pop_size"]: record for record in json.loads(out.read_text())["results"]}
    saved = CoSyNE.load(hard_tasks.model_path(models, "Acrobot-v1", 0))
    baseline = CoSyNE.load(hard_tasks.model_path(models, "Acrobot-v1", 0, baseline=True))
    assert sorted(path.name for path in models.iterdir()) == ["Acrobot-v1-seed0-baseline.zip", "Acrobot-v1-seed0.zip"]
    assert (saved.pop_size, baseline.pop_size) == (6, 8)
    # The model as training returned it: its steps, and its champion's score on the confirmation episodes.
    assert saved.num_timesteps == records[6]["steps"]
    assert hard_tasks.confirm(saved, "Acrobot-v1").mean() == records[6]["final_confirm_mean"]


def test_hard_tasks_goes_on_from_saved_models_with_new_settings(tmp_path, monkeypatch):
    import gymnasium as gym

    from benchmarks import hard_tasks
    from sb3_cosyne import CoSyNE

    monkeypatch.setattr(hard_tasks.os, "environ", dict(hard_tasks.os.environ))
    monkeypatch.setattr(hard_tasks, "run_all", lambda specs, jobs, workers: map(hard_tasks.run_one, specs))
    models, out = tmp_path / "models", tmp_path / "runs.json"
    args = ["--envs", "Acrobot-v1", "--seeds", "0", "--set", "pop_size=6"]
    hard_tasks.main([*args, "--steps", "1500", "--check-every", "9000", "--save-dir", str(models), "--out", str(out)])
    saved = hard_tasks.model_path(models, "Acrobot-v1", 0)
    start = CoSyNE.load(saved).num_timesteps
    more = ["--steps", "6000", "--check-every", "3000", "--load-dir", str(models), "--out", str(out)]
    hard_tasks.main(["--envs", "Acrobot-v1", "--seeds", "0", "--set", "mutation_scale=0.1", *more])
    (record,) = json.loads(out.read_text())["results"]
    assert (record["start_steps"], record["loaded_from"]) == (start, str(saved))
    # Checks count from where the run was saved (a generation plays at least 3000 steps here).
    assert [check["steps"] - start >= 3000 * (i + 1) for i, check in enumerate(record["checks"])] == [True, True]
    by_hand = CoSyNE.load(saved, env=gym.make("Acrobot-v1"), mutation_scale=0.1)
    assert by_hand.mutation_scale == 0.1 and by_hand.pop_size == 6
    by_hand.learn(6000, reset_num_timesteps=False)
    assert record["steps"] == by_hand.num_timesteps
    assert record["final_confirm_mean"] == hard_tasks.confirm(by_hand, "Acrobot-v1").mean()


def test_hard_tasks_runs_on_workers_with_the_result_of_one_process():
    from benchmarks import hard_tasks

    spec = dict(env="Acrobot-v1", seed=0, steps=3000, check_every=1500, overrides={"pop_size": 6}, fast_path=False)
    alone, on_workers = hard_tasks.run_one(spec), hard_tasks.run_one({**spec, "workers": 2})
    assert (alone["workers"], on_workers["workers"]) == (1, 2)
    same = ("steps", "check_steps", "final_confirm_mean", "final_confirm_std")
    assert [alone[key] for key in same] == [on_workers[key] for key in same]
    assert [check["confirm_mean"] for check in alone["checks"]] == [check["confirm_mean"] for check in on_workers["checks"]]
    assert on_workers["wall_s"] > 0 and len(on_workers["checks"]) >= 1


def test_git_commit_is_dirty_only_outside_the_results_documents(tmp_path, monkeypatch):
    """A benchmark writing its own document as it goes does not call its tree dirty; a changed source file does."""
    import subprocess

    from benchmarks import provenance

    def git(*arguments):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *arguments], cwd=tmp_path, check=True)

    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "table.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    clean = provenance.git_commit()
    assert clean is not None and len(clean) == 40
    (tmp_path / "docs" / "results" / "table.json").write_text('{"results": []}')
    (tmp_path / "docs" / "results" / "new.json").write_text("{}")
    assert provenance.git_commit() == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance.git_commit() == clean + "+dirty"
