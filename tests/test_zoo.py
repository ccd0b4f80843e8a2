"""
The rl_zoo3 bridge: ``python -m sb3_cosyne.zoo`` runs rl_zoo3's own scripts with CoSyNE and its tuned yml.

Everything that imports rl_zoo3 runs in a subprocess: rl_zoo3 patches gymnasium's ``TimeLimit`` on import,
which must not leak into the other tests of the same worker.
"""

import importlib.util
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from stable_baselines3.common.env_util import make_vec_env

from sb3_cosyne import CoSyNE
from sb3_cosyne.hyperparams import DEFAULT_PATH, load_hyperparams, model_kwargs
from sb3_cosyne.hyperparams.sampling import NET_ARCHS, convert_cosyne_params, sample_cosyne_params
from sb3_cosyne.zoo import main, with_defaults

if importlib.util.find_spec("rl_zoo3") is None:  # not imported here: see the module's docstring
    pytest.skip('the rl_zoo3 bridge needs the zoo extra: pip install "sb3-cosyne[zoo]"', allow_module_level=True)
optuna = pytest.importorskip("optuna", reason="rl_zoo3's --optimize needs optuna (installed with rl_zoo3)")

REPO_ROOT = Path(__file__).resolve().parents[1]
ENTRIES = sorted(yaml.safe_load(DEFAULT_PATH.read_text()))
# Tiny CartPole run shared by the tests below.
STEPS, SEED, EVAL_FREQ, SAVE_FREQ, POP_SIZE = 600, 3, 200, 300, 8


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run Python with this checkout first on the path; fail with its output if it fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def zoo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_python(["-m", "sb3_cosyne.zoo", *args], cwd)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The run folder of a tiny zoo training on CartPole with a ``-params`` override, evaluations and checkpoints."""
    root = tmp_path_factory.mktemp("zoo")
    zoo("train", "--env", "CartPole-v1", "-n", str(STEPS), "--seed", str(SEED), "-f", "logs", "--verbose", "0",
        "--eval-freq", str(EVAL_FREQ), "--eval-episodes", "2", "--save-freq", str(SAVE_FREQ),
        "-params", f"pop_size:{POP_SIZE}", cwd=root)  # fmt: skip
    return root / "logs" / "cosyne" / "CartPole-v1_1"


def test_train_saves_a_cosyne_model_with_the_yml_settings_and_the_overrides(trained):
    model = CoSyNE.load(trained / "CartPole-v1.zip")
    entry = load_hyperparams("CartPole-v1")
    assert model.pop_size == POP_SIZE != entry["pop_size"]
    for key in ("init_scale", "champion_episodes", "normalize_obs"):
        assert getattr(model, key) == entry[key]
    assert type(model.policy).__name__ == "CoSyNEPolicy"
    assert model.num_timesteps >= STEPS
    config = yaml.load((trained / "CartPole-v1" / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert dict(config)["pop_size"] == POP_SIZE


def test_zoo_training_equals_a_direct_run_with_the_same_settings_and_seed(trained):
    policy, kwargs = model_kwargs({**load_hyperparams("CartPole-v1"), "pop_size": POP_SIZE})
    direct = CoSyNE(policy, "CartPole-v1", seed=SEED, **kwargs).learn(STEPS)
    model = CoSyNE.load(trained / "CartPole-v1.zip")
    assert model.num_timesteps == direct.num_timesteps
    np.testing.assert_array_equal(model.champion_params(), direct.champion_params())


def test_eval_freq_and_save_freq_count_env_steps(trained):
    evaluations = np.load(trained / "evaluations.npz")
    # The last generation runs past -n: evaluations go on every EVAL_FREQ steps until it ends.
    total = CoSyNE.load(trained / "CartPole-v1.zip").num_timesteps
    assert list(evaluations["timesteps"]) == list(range(EVAL_FREQ, total + 1, EVAL_FREQ))
    assert evaluations["results"].shape[1] == 2
    assert (trained / f"rl_model_{SAVE_FREQ}_steps.zip").exists()
    assert (trained / "best_model.zip").exists()


def test_enjoy_plays_the_saved_model(trained):
    proc = zoo("enjoy", "--env", "CartPole-v1", "-f", str(trained.parents[1]), "--no-render", "-n", "400", cwd=trained)
    played = [float(line.split(":")[1]) for line in proc.stdout.splitlines() if line.startswith("Episode Reward:")]
    # The same episodes, replayed here: enjoy's env is seeded with --seed (0 by default), its actions deterministic.
    model, env = CoSyNE.load(trained / "CartPole-v1.zip"), make_vec_env("CartPole-v1", seed=0)
    obs, returns, total = env.reset(), [], 0.0
    for _ in range(400):
        obs, reward, done, _ = env.step(model.predict(obs, deterministic=True)[0])
        total += float(reward[0])
        if done[0]:
            returns, total = [*returns, total], 0.0
    assert played == returns
    assert len(played) >= 1


def test_optimize_runs_an_optuna_study_with_the_cosyne_sampler(tmp_path):
    zoo("train", "--env", "CartPole-v1", "-optimize", "--n-trials", "2", "-n", "500", "--n-evaluations", "1",
        "--eval-episodes", "2", "--n-startup-trials", "2", "--no-optim-plots", "--seed", "0", "-f", "logs",
        cwd=tmp_path)  # fmt: skip
    (report,) = (tmp_path / "logs" / "cosyne").glob("report_CartPole-v1_2-trials-500-*.pkl")
    with report.open("rb") as file:
        study = pickle.load(file)
    assert len(study.trials) == 2
    best = study.best_trial
    # The evaluation ran (a trial that never evaluates scores -inf): a CartPole return of 1 to 500.
    assert 1 <= best.value <= 500
    assert set(best.params) == {"pop_size", "mutation_prob", "mutation_scale", "permutation", "init_scale",
                                "n_eval_episodes", "net_arch"}  # fmt: skip
    model = CoSyNE("MlpPolicy", "CartPole-v1", **convert_cosyne_params(best.params))
    assert model.policy.net_arch == (NET_ARCHS[best.params["net_arch"]] or [8])
    assert model.pop_size == best.params["pop_size"]


@pytest.mark.parametrize("env_id", ["sb3_cosyne/DoublePoleNoVel-v0", "Acrobot-v1"])
@pytest.mark.parametrize("net_arch", list(NET_ARCHS))
def test_every_sampled_network_fits_the_entry_policy(env_id, net_arch):
    # rl_zoo3 builds the trial's model outside its error handling: an invalid sample would end the whole study.
    policy, kwargs = model_kwargs(load_hyperparams(env_id))
    params = {"pop_size": 8, "mutation_prob": 0.1, "mutation_scale": 0.1, "permutation": "all", "init_scale": 1.0,
              "n_eval_episodes": 2, "net_arch": net_arch}  # fmt: skip
    sampled = sample_cosyne_params(optuna.trial.FixedTrial(params), 0, 1, {})
    model = CoSyNE(policy, env_id, **{**kwargs, **sampled})
    configured = CoSyNE(policy, env_id, **kwargs).policy.net_arch
    assert model.policy.net_arch == (configured if NET_ARCHS[net_arch] is None else NET_ARCHS[net_arch])
    assert (model.pop_size, model.n_eval_episodes) == (8, 2)


def test_every_yml_entry_builds_its_model_through_rl_zoo3(tmp_path):
    script = textwrap.dedent(
        f"""
        import argparse, json
        from rl_zoo3.exp_manager import ExperimentManager
        from sb3_cosyne.zoo import register
        register()
        built = {{}}
        for env_id in {ENTRIES!r}:
            manager = ExperimentManager(argparse.Namespace(), "cosyne", env_id, "logs", eval_freq=-1,
                                        config={str(DEFAULT_PATH)!r}, seed=0, verbose=0)
            model, _ = manager.setup_experiment()
            built[env_id] = dict(algo=type(model).__name__, n_timesteps=manager.n_timesteps, pop_size=model.pop_size,
                                 policy=type(model.policy).__name__, net_arch=model.policy.net_arch)
            model.env.close()
        print(json.dumps(built))
        """
    )
    built = json.loads(run_python(["-c", script], tmp_path).stdout.splitlines()[-1])
    for env_id in ENTRIES:
        policy, kwargs = model_kwargs(load_hyperparams(env_id))
        expected = CoSyNE(policy, env_id, **kwargs)
        assert built[env_id] == dict(
            algo="CoSyNE",
            n_timesteps=int(load_hyperparams(env_id)["n_timesteps"]),
            pop_size=expected.pop_size,
            policy=type(expected.policy).__name__,
            net_arch=expected.policy.net_arch,
        ), env_id


def test_env_without_an_entry_is_refused_up_front_with_the_entries():
    with pytest.raises(SystemExit, match=r"no hyperparameters for 'Taxi-v3'.*CartPole-v1.*-conf"):
        main(["train", "--algo", "cosyne", "--env", "Taxi-v3"])


def test_mistyped_key_in_a_custom_yml_is_named(tmp_path):
    conf = tmp_path / "mine.yml"
    conf.write_text("CartPole-v1:\n  n_timesteps: 1000\n  pop_sise: 8\n")
    with pytest.raises(SystemExit, match=r"unknown hyperparameter 'pop_sise'.*did you mean 'pop_size'"):
        main(["train", "--env", "CartPole-v1", "-conf", str(conf)])


def test_unknown_command_shows_the_usage(capsys):
    with pytest.raises(SystemExit, match=r"usage: python -m sb3_cosyne.zoo \{train,enjoy,record_video\}"):
        main(["plot"])
    main(["--help"])
    assert "python -m sb3_cosyne.zoo train --env CartPole-v1" in capsys.readouterr().out


def test_defaults_apply_to_cosyne_only():
    assert with_defaults("train", ["--env", "Pendulum-v1"]) == ["--env", "Pendulum-v1", "--algo", "cosyne", "-conf",
                                                                  str(DEFAULT_PATH)]  # fmt: skip
    assert with_defaults("train", ["--algo", "cosyne", "--conf-file", "x.yml"]) == ["--algo", "cosyne", "--conf-file", "x.yml"]
    assert with_defaults("enjoy", ["--env", "Pendulum-v1"]) == ["--env", "Pendulum-v1", "--algo", "cosyne", "-f", "logs"]
    assert with_defaults("enjoy", ["--algo=ppo", "--env", "Pendulum-v1"]) == ["--algo=ppo", "--env", "Pendulum-v1"]
    assert with_defaults("record_video", ["-f", "runs"]) == ["-f", "runs", "--algo", "cosyne"]


def test_normalize_in_the_yml_trains_through_vecnormalize_and_saves_its_statistics(tmp_path):
    entry = {**load_hyperparams("CartPole-v1"), "n_timesteps": 600, "pop_size": POP_SIZE, "normalize": True}
    conf = tmp_path / "mine.yml"
    conf.write_text(yaml.safe_dump({"CartPole-v1": entry}))
    zoo("train", "--env", "CartPole-v1", "-conf", str(conf), "--seed", "0", "-f", "logs", "--verbose", "0", cwd=tmp_path)
    run = tmp_path / "logs" / "cosyne" / "CartPole-v1_1"
    with (run / "CartPole-v1" / "vecnormalize.pkl").open("rb") as file:
        statistics = pickle.load(file)
    # The networks were evaluated through the wrapper: its statistics saw the training steps.
    assert statistics.obs_rms.count >= CoSyNE.load(run / "CartPole-v1.zip").num_timesteps
    zoo("enjoy", "--env", "CartPole-v1", "-f", "logs", "--no-render", "-n", "100", cwd=tmp_path)
