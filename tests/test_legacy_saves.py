"""Models saved by sb3-cosyne 0.1.0 (before the package's layers moved) still load, predict and train on alike.

The fixtures and their expected values come from ``tests/fixtures/make_saved_models.py`` run on the 0.1.0 code.
"""

import json
import pathlib

import gymnasium as gym
import numpy as np
import pytest

from sb3_cosyne import CoSyNE

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "saved_models.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_model_saved_by_0_1_0_predicts_and_trains_on_as_it_did(name):
    case = EXPECTED[name]
    model = CoSyNE.load(FIXTURES / f"{name}.zip", env=gym.make(case["env_id"]))
    actions, _ = model.predict(np.array(case["observations"]), deterministic=True)
    np.testing.assert_array_equal(actions, np.array(case["actions"], dtype=actions.dtype))

    model.learn(case["resumed"]["num_timesteps"] - model.num_timesteps, reset_num_timesteps=False)
    resumed = case["resumed"]
    np.testing.assert_array_equal(model.champion_params(), resumed["champion"])
    assert float(model.strategy.population.sum()) == resumed["population_sum"]
    assert model.num_timesteps == resumed["num_timesteps"]
    assert model.best_fitness == resumed["best_fitness"]


def test_the_0_1_0_import_paths_still_work():
    from sb3_cosyne.cosyne import CoSyNE as OldCoSyNE
    from sb3_cosyne.cosyne.policies import MlpPolicy as OldMlpPolicy

    from sb3_cosyne.algorithm.policies import MlpPolicy

    assert OldCoSyNE is CoSyNE and OldMlpPolicy is MlpPolicy
