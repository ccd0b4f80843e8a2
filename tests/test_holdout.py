"""The held-out champion check: a challenger is crowned only if it also beats the champion on held-out episodes."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from test_episode_cap import Endless

from sb3_cosyne import CoSyNE
from sb3_cosyne.algorithm.champion import Champion, HoldoutCheck
from sb3_cosyne.evaluation.lanes import evaluate_networks


def test_a_challenger_that_wins_its_retest_but_not_the_holdout_is_not_crowned():
    champion = Champion(return_sum=30.0, episode_count=3, holdout=12.0)
    retest = np.array([20.0, 20.0]), np.array([10.0, 10.0])
    assert champion.wins_retest(*retest)
    assert not champion.contest(25.0, 2, *retest, HoldoutCheck(challenger=np.array([11.0])))
    # The champion's re-test episodes still count in its record; its held-out score stays.
    assert (champion.return_sum, champion.episode_count, champion.holdout) == (50.0, 5, 12.0)
    assert champion.contest(25.0, 2, *retest, HoldoutCheck(challenger=np.array([13.0])))
    assert (champion.return_sum, champion.episode_count, champion.holdout) == (40.0, 2, 13.0)


def test_the_champion_s_unknown_holdout_score_is_measured_alongside():
    champion = Champion(return_sum=30.0, episode_count=3)
    retest = np.array([20.0]), np.array([10.0])
    assert not champion.contest(25.0, 1, *retest, HoldoutCheck(challenger=np.array([11.0]), champion=np.array([12.0])))
    assert champion.holdout == 12.0
    # A NaN held-out score (the env broke) never crowns.
    assert not champion.contest(25.0, 1, np.array([90.0]), np.array([10.0]), HoldoutCheck(challenger=np.array([np.nan])))


def train(**kwargs) -> tuple[CoSyNE, list[float]]:
    model = CoSyNE("MlpPolicy", "Acrobot-v1", pop_size=10, champion_episodes=2, seed=4, **kwargs)
    logged: list[float] = []
    model.set_logger(configure(None, []))
    record = model.logger.record

    def keep(key, value, exclude=None):
        if key == "train/champion_holdout":
            logged.append(value)
        record(key, value, exclude)

    model.logger.record = keep
    model.learn(30_000)
    return model, logged


def test_the_logged_holdout_score_is_the_champion_s_mean_on_the_held_out_episodes():
    model, logged = train(holdout_episodes=6)
    assert len(logged) == model.generation and logged[-1] > -500
    seeds = model.holdout_seeds()
    assert seeds.shape == (6,) and len(set(seeds.tolist())) == 6
    played = evaluate_networks(
        model.env, model.policy.network, model.champion_params()[None], seeds[None], model.policy.obs_stats()
    )
    assert logged[-1] == model.champion.holdout == pytest.approx(played.returns.mean())


def test_held_out_episodes_count_as_steps_and_evaluations():
    # Every episode of this env lasts exactly 50 steps (the cap).
    env = DummyVecEnv([Endless])
    model = CoSyNE("MlpPolicy", env, pop_size=8, seed=0, max_episode_steps=50, champion_episodes=2, holdout_episodes=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.learn(5000)
    assert np.isfinite(model.champion.holdout)
    assert model.num_timesteps == 50 * model.num_evaluations
    # the generations' and re-tests' episodes alone would not add up to that many
    assert model.num_evaluations > model.generation * 8 + 5
    # every episode beyond the generations' own is a re-test's or a held-out check's
    assert model.check_timesteps == 50 * (model.num_evaluations - model.generation * 8) > 0


def test_a_racing_challenger_stops_at_the_first_block_that_leaves_it_behind():
    model = CoSyNE("MlpPolicy", "Acrobot-v1", pop_size=10, champion_episodes=2, seed=3, holdout_episodes=6, holdout_blocks=3)
    checks, holdout_check = [], model._holdout_check

    def recorded(generation, callback):
        champion = model.champion.holdout_returns
        ok = holdout_check(generation, callback)
        known = champion if generation.holdout.champion is None else generation.holdout.champion
        checks.append((generation.holdout, known, generation.holdout_count))
        return ok

    model._holdout_check = recorded
    model.learn(30_000)
    for check, champion, count in checks:
        played = check.challenger.size
        assert played in (2, 4, 6) and count == played + (0 if check.champion is None else 6)
        if champion is None:  # no champion yet: nothing to race against
            assert played == 6 and not check.stopped
            continue
        # Level or ahead after every block but the last one played; behind after that one if it stopped.
        for k in range(2, played, 2):
            assert check.challenger[:k].mean() >= champion[:k].mean()
        assert check.stopped == (check.challenger.mean() < champion[:played].mean())
    assert any(check.stopped and check.challenger.size < 6 for check, _, _ in checks)
    assert any(not check.stopped and check.challenger.size == 6 for check, champion, _ in checks if champion is not None)
    # The champion's held-out returns are its own, episode by episode.
    played = evaluate_networks(
        model.env, model.policy.network, model.champion_params()[None], model.holdout_seeds()[None], model.policy.obs_stats()
    )
    np.testing.assert_array_equal(model.champion.holdout_returns, played.returns[0])


def test_the_champion_stops_replaying_re_tests_once_its_record_is_long_enough():
    model = CoSyNE("MlpPolicy", "Acrobot-v1", pop_size=10, champion_episodes=2, seed=4, max_champion_episodes=5)
    counts, contest = [], model.champion.contest

    def recorded(*args, **kwargs):
        crowned = contest(*args, **kwargs)
        counts.append((model.champion.episode_count, crowned, args[3] if len(args) > 3 else None))
        return crowned

    model.champion.contest = recorded
    model.learn(30_000)
    replays = [champion.size for _, _, champion in counts if champion is not None]
    assert 0 in replays and 2 in replays
    # A record reaches at most 4 + 2 episodes: the champion replays while it holds fewer than 5.
    assert max(count for count, _, _ in counts) == 6


def test_held_out_seeds_come_from_the_model_seed_apart_from_training():
    a = CoSyNE("MlpPolicy", "CartPole-v1", seed=1, holdout_episodes=5)
    b = CoSyNE("MlpPolicy", "CartPole-v1", seed=1, holdout_episodes=5)
    np.testing.assert_array_equal(a.holdout_seeds(), b.holdout_seeds())
    assert not np.array_equal(
        a.holdout_seeds(), CoSyNE("MlpPolicy", "CartPole-v1", seed=2, holdout_episodes=5).holdout_seeds()
    )
    # Drawing them does not touch the training stream.
    before = a.strategy.rng.bit_generator.state
    a.holdout_seeds()
    assert a.strategy.rng.bit_generator.state == before


def learn_recording_holdout_checks(model: CoSyNE, total_timesteps: int = 30_000) -> list[tuple]:
    """
    Train, recording each held-out check: the held-out seeds it played, whether a champion existed and whether its
    held-out returns were known before the check, and the check itself.
    """
    checks, holdout_check = [], model._holdout_check

    def recorded(generation, callback):
        seeds, champion_known = model.holdout_seeds().copy(), model.champion.holdout_known
        ok = holdout_check(generation, callback)
        checks.append((seeds, model.champion.exists, champion_known, generation.holdout))
        return ok

    model._holdout_check = recorded
    model.learn(total_timesteps)
    return checks


def test_a_new_held_out_set_is_drawn_after_holdout_refresh_challengers_and_the_champion_replays_it():
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=10, champion_episodes=2, seed=4, holdout_episodes=6, holdout_refresh=2)
    first_set = model.holdout_seeds().copy()
    checks = learn_recording_holdout_checks(model)
    sets = [tuple(seeds) for seeds, *_ in checks]
    assert len(checks) >= 6 and sets[0] == tuple(first_set)
    # Two challengers a set, each set drawn anew.
    assert sets == [sets[2 * (i // 2)] for i in range(len(sets))]
    assert len(set(sets)) == (len(sets) + 1) // 2 == model._holdout_set + (model._holdout_set_checks > 0)
    replayed = 0
    for i, (_, champion_exists, champion_known, check) in enumerate(checks):
        # The champion's returns on a new set are unknown: it plays that set beside the set's first challenger.
        if i % 2 == 0 and champion_exists:
            assert not champion_known and check.champion is not None and check.champion.size == 6
            replayed += 1
        if i % 2 == 1:
            assert check.champion is None
    assert replayed >= 2
    # The first set is the one a run without refreshes plays, so that such runs repeat exactly.
    np.testing.assert_array_equal(first_set, CoSyNE("MlpPolicy", "CartPole-v1", seed=4, holdout_episodes=6).holdout_seeds())


def test_no_holdout_logs_nothing_and_the_options_are_checked():
    _, logged = train()
    assert logged == []
    with pytest.raises(ValueError, match="holdout_episodes"):
        CoSyNE("MlpPolicy", "CartPole-v1", holdout_episodes=-1)
    with pytest.raises(ValueError, match="holdout_blocks=4 splits holdout_episodes=3 into empty blocks"):
        CoSyNE("MlpPolicy", "CartPole-v1", holdout_episodes=3, holdout_blocks=4)
    with pytest.raises(ValueError, match="max_champion_episodes"):
        CoSyNE("MlpPolicy", "CartPole-v1", max_champion_episodes=0)
    with pytest.raises(ValueError, match="holdout_refresh must be an int >= 1, got 0"):
        CoSyNE("MlpPolicy", "CartPole-v1", holdout_episodes=3, holdout_refresh=0)
    with pytest.raises(ValueError, match="holdout_refresh needs holdout_episodes > 0"):
        CoSyNE("MlpPolicy", "CartPole-v1", holdout_refresh=5)
    for margin in (-1.0, float("nan"), "1", True):
        with pytest.raises(ValueError, match="holdout_margin must be a finite number >= 0"):
            CoSyNE("MlpPolicy", "CartPole-v1", holdout_episodes=3, holdout_margin=margin)
    with pytest.raises(ValueError, match="holdout_margin needs holdout_episodes > 0"):
        CoSyNE("MlpPolicy", "CartPole-v1", holdout_margin=1.0)


def test_with_holdout_margin_a_challenger_must_lead_by_that_many_standard_errors_of_the_paired_difference():
    champion_returns = np.array([100.0, 200.0, 300.0, 400.0])
    # Paired differences 10, 30, 10 and 30: a lead of 20, with a standard error of 5.77.
    challenger = champion_returns + np.array([10.0, 30.0, 10.0, 30.0])
    mean = float(champion_returns.mean())
    assert HoldoutCheck(challenger, margin=3.0).beats(mean, champion_returns)
    assert not HoldoutCheck(challenger, margin=4.0).beats(mean, champion_returns)
    # Unpaired, or without a margin, any lead will do; a champion that broke the env is beaten by any finite score.
    assert HoldoutCheck(challenger, margin=4.0).beats(mean)
    assert HoldoutCheck(challenger).beats(mean, champion_returns)
    assert HoldoutCheck(challenger, margin=4.0).beats(-np.inf, np.array([100.0, np.nan, 300.0, 400.0]))
    # In a contest the margin is measured against the champion's returns on the same held-out episodes.
    champion = Champion(return_sum=10.0, episode_count=1)
    retest = np.array([50.0]), np.array([10.0])
    assert not champion.contest(50.0, 1, *retest, HoldoutCheck(challenger, champion=champion_returns, margin=4.0))
    assert champion.holdout == mean
    assert champion.contest(50.0, 1, *retest, HoldoutCheck(challenger, margin=3.0))
    assert champion.holdout == mean + 20.0


def test_the_model_s_held_out_checks_use_its_margin():
    model = CoSyNE("MlpPolicy", "Acrobot-v1", pop_size=10, champion_episodes=2, seed=4, holdout_episodes=6, holdout_margin=1.5)
    checks = [check for *_, check in learn_recording_holdout_checks(model)]
    assert len(checks) >= 2 and all(check.margin == 1.5 for check in checks)


def test_a_champion_that_broke_the_env_loses_its_held_out_score_too():
    champion = Champion(return_sum=30.0, episode_count=3, holdout=50.0)
    assert champion.contest(25.0, 1, np.array([10.0]), np.array([np.nan]), HoldoutCheck(challenger=np.array([5.0])))
    assert (champion.mean, champion.holdout) == (10.0, 5.0)


def test_an_equal_held_out_score_crowns_so_that_a_perfect_champion_stays_beatable():
    champion = Champion(return_sum=10.0, episode_count=1, holdout=500.0)
    assert champion.contest(500.0, 1, np.array([500.0]), np.array([400.0]), HoldoutCheck(challenger=np.array([500.0])))


def test_the_held_out_check_needs_re_tests_and_seeded_lanes():
    with pytest.raises(ValueError, match="holdout_episodes needs champion_episodes > 0"):
        CoSyNE("MlpPolicy", "CartPole-v1", champion_episodes=0, holdout_episodes=5)
    with pytest.raises(ValueError, match="VecEnv wrapper VecNormalize"):
        CoSyNE("MlpPolicy", VecNormalize(DummyVecEnv([lambda: gym.make("CartPole-v1")])), holdout_episodes=5)
