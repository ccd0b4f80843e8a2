"""The Numba operators of CoSyNE against the paper's rules (JMLR 9, 2008, §4) and against numpy's random stream."""

import copy
from collections.abc import Callable

import numpy as np
import pytest

from sb3_cosyne.core import kernels

SEGMENTS = np.array([0, 3, 7, 8, 12], dtype=np.int64)  # includes a one-weight segment


def distinct_parents(n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Two chromosomes whose values are all distinct, so each child weight's origin is unambiguous."""
    a = np.arange(n, dtype=np.float64) + 0.5
    return a, -a


def labelled_population(n: int, m: int) -> np.ndarray:
    """Population whose entry (i, j) is ``1000 * i + j``: every weight tells its row and column."""
    return 1000.0 * np.arange(n)[:, None] + np.arange(m)[None, :]


# ---------------------------------------------------------------------------------------------------------------- rank


def test_rank_sorts_descending_and_ties_keep_lower_index_first():
    fitness = np.array([1.0, 3.0, 2.0, 3.0, -1.0, 2.0])
    np.testing.assert_array_equal(kernels.rank(fitness), [1, 3, 2, 5, 0, 4])


def test_rank_matches_stable_python_sort_on_many_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        fitness = rng.integers(-3, 3, size=30).astype(np.float64)
        expected = sorted(range(30), key=lambda j: (-fitness[j], j))
        np.testing.assert_array_equal(kernels.rank(fitness), expected)


# -------------------------------------------------------------------------------------------------------- select_mates


def test_select_mates_ranges():
    rng = np.random.default_rng(1)
    for n_parents in (1, 2, 5, 10):
        for _ in range(200):
            mates = kernels.select_mates(n_parents, rng)
            assert mates.shape == (n_parents,)
            assert 0 <= mates[0] < n_parents
            for r in range(1, n_parents):
                assert 0 <= mates[r] < r


def test_select_mates_is_uniform_over_better_ranks():
    n_parents, draws = 6, 6000
    rng = np.random.default_rng(2)
    counts = np.zeros((n_parents, n_parents))
    for _ in range(draws):
        mates = kernels.select_mates(n_parents, rng)
        counts[np.arange(n_parents), mates] += 1
    # Rank 0 draws from all parents, rank r from the r better ranks, each uniformly (binomial sd < 0.007 here).
    frequencies = counts / draws
    np.testing.assert_allclose(frequencies[0], 1.0 / n_parents, atol=0.03)
    for r in range(1, n_parents):
        np.testing.assert_allclose(frequencies[r, :r], 1.0 / r, atol=0.03)
        assert np.all(counts[r, r:] == 0)


def test_select_mates_draws_numpy_integers_stream():
    rng, reference = np.random.default_rng(3), np.random.default_rng(3)
    mates = kernels.select_mates(7, rng)
    expected = [reference.integers(0, 7)] + [reference.integers(0, r) for r in range(1, 7)]
    np.testing.assert_array_equal(mates, expected)
    assert rng.bit_generator.state == reference.bit_generator.state


# ----------------------------------------------------------------------------------------------------------- crossover


def segment_cut(child: np.ndarray, a: np.ndarray, b: np.ndarray, start: int, end: int) -> int:
    """Check that ``child[start:end]`` is a prefix of ``a`` then a suffix of ``b`` and return the cut."""
    from_a = child[start:end] == a[start:end]
    from_b = child[start:end] == b[start:end]
    assert np.all(from_a ^ from_b), "every child weight must come from one parent"
    cut = start + int(np.argmax(from_b)) if from_b.any() else end
    assert np.all(from_a[: cut - start]) and np.all(from_b[cut - start :]), "not a single cut"
    return cut


def test_crossover_one_cut_per_segment_and_complementary_children():
    a, b = distinct_parents()
    rng = np.random.default_rng(4)
    for _ in range(300):
        child_a, child_b = kernels.crossover(a, b, SEGMENTS, rng)
        # Complementary: child_a takes a's weight exactly where child_b takes b's.
        np.testing.assert_array_equal(child_a == a, child_b == b)
        np.testing.assert_array_equal(child_a == b, child_b == a)
        for start, end in zip(SEGMENTS[:-1], SEGMENTS[1:], strict=True):
            cut = segment_cut(child_a, a, b, start, end)
            assert start <= cut < end
            assert segment_cut(child_b, b, a, start, end) == cut


def test_crossover_cuts_are_uniform_and_independent_between_segments():
    a, b = distinct_parents()
    rng = np.random.default_rng(5)
    segments = np.array([0, 3, 7, 12], dtype=np.int64)
    draws = 6000
    joint = np.zeros((3, 4))
    third = np.zeros(5)
    for _ in range(draws):
        child_a, _ = kernels.crossover(a, b, segments, rng)
        cut_0 = segment_cut(child_a, a, b, 0, 3)
        cut_1 = segment_cut(child_a, a, b, 3, 7)
        joint[cut_0 - 0, cut_1 - 3] += 1
        third[segment_cut(child_a, a, b, 7, 12) - 7] += 1
    # Every (cut_0, cut_1) combination appears with probability 1/3 * 1/4 (sd ~0.004); the third segment is uniform.
    np.testing.assert_allclose(joint / draws, 1.0 / 12.0, atol=0.02)
    np.testing.assert_allclose(third / draws, 1.0 / 5.0, atol=0.03)


def test_crossover_does_not_modify_parents_and_draws_numpy_stream():
    a, b = distinct_parents()
    a_before, b_before = a.copy(), b.copy()
    rng, reference = np.random.default_rng(6), np.random.default_rng(6)
    child_a, child_b = kernels.crossover(a, b, SEGMENTS, rng)
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)
    expected_a, expected_b = a.copy(), b.copy()
    for start, end in zip(SEGMENTS[:-1], SEGMENTS[1:], strict=True):
        cut = start + reference.integers(0, end - start)
        expected_a[cut:end], expected_b[cut:end] = b[cut:end], a[cut:end]
    np.testing.assert_array_equal(child_a, expected_a)
    np.testing.assert_array_equal(child_b, expected_b)
    assert rng.bit_generator.state == reference.bit_generator.state


# ----------------------------------------------------------------------------------------------------------- recombine


def test_recombine_makes_two_children_per_parent_from_the_top_parents_only():
    n, m = 12, 20
    n_parents = int(m * 0.25)
    population = labelled_population(n, m)
    rng = np.random.default_rng(7)
    for _ in range(50):
        order = rng.permutation(m)
        offspring = kernels.recombine(population, order, n_parents, SEGMENTS, rng)
        assert offspring.shape == (n, 2 * n_parents) == (n, m // 2)
        source_row, source_column = np.divmod(offspring.astype(int), 1000)
        np.testing.assert_array_equal(source_row, np.repeat(np.arange(n)[:, None], 2 * n_parents, axis=1))
        assert set(source_column.ravel()) <= set(order[:n_parents])


def test_recombine_is_select_mates_then_crossover_of_ranked_parents():
    n, m, n_parents = 12, 16, 4
    rng = np.random.default_rng(8)
    population = rng.normal(size=(n, m))
    order = rng.permutation(m)
    reference = copy.deepcopy(rng)
    offspring = kernels.recombine(population, order, n_parents, SEGMENTS, rng)
    mates = kernels.select_mates(n_parents, reference)
    for r in range(n_parents):
        parent, mate = population[:, order[r]], population[:, order[mates[r]]]
        child_a, child_b = kernels.crossover(parent, mate, SEGMENTS, reference)
        np.testing.assert_array_equal(offspring[:, 2 * r], child_a)
        np.testing.assert_array_equal(offspring[:, 2 * r + 1], child_b)
    assert rng.bit_generator.state == reference.bit_generator.state


# ----------------------------------------------------------------------------------------------- truncated_cauchy/mutate


def test_truncated_cauchy_is_resampled_not_clipped():
    rng = np.random.default_rng(9)
    scale, draws = 5.0, 20000
    noise = kernels.mutate(np.zeros((100, draws // 100)), 1.0, scale, rng).ravel()
    assert np.all(np.abs(noise) <= kernels.CAUCHY_CUTOFF)
    # Untruncated, |X| > 10 has probability 1 - 2/pi * atan(2) ~ 0.30: clipping would pile that mass on +-10.
    assert np.mean(np.abs(noise) >= 9.99) < 0.01
    # Resampling keeps the Cauchy shape: P(|X| <= 5 | |X| <= 10) = atan(1) / atan(2) ~ 0.709 (sd ~0.003).
    assert abs(np.mean(np.abs(noise) <= scale) - np.arctan(1.0) / np.arctan(2.0)) < 0.02
    assert abs(np.mean(noise > 0) - 0.5) < 0.02


def test_truncated_cauchy_draws_numpy_stream():
    rng, reference = np.random.default_rng(10), np.random.default_rng(10)
    for _ in range(500):
        expected = 5.0 * reference.standard_cauchy()
        while abs(expected) > 10.0:
            expected = 5.0 * reference.standard_cauchy()
        assert kernels.truncated_cauchy(5.0, rng) == expected
    assert rng.bit_generator.state == reference.bit_generator.state


def test_mutate_perturbs_the_expected_fraction_of_weights():
    rng = np.random.default_rng(11)
    offspring = rng.normal(size=(100, 100))
    for mutation_prob in (0.05, 0.3, 0.8):
        mutated = kernels.mutate(offspring, mutation_prob, 0.3, rng)
        # 10,000 weights: binomial sd <= 0.005.
        assert abs(np.mean(mutated != offspring) - mutation_prob) < 0.025


def test_mutate_with_zero_probability_returns_an_identical_copy():
    offspring = np.random.default_rng(12).normal(size=(8, 6))
    mutated = kernels.mutate(offspring, 0.0, 0.3, np.random.default_rng(0))
    np.testing.assert_array_equal(mutated, offspring)
    assert mutated is not offspring and not np.shares_memory(mutated, offspring)


def test_mutate_leaves_its_input_unchanged_and_draws_numpy_stream():
    offspring = np.random.default_rng(13).normal(size=(9, 7))
    before = offspring.copy()
    rng, reference = np.random.default_rng(14), np.random.default_rng(14)
    mutated = kernels.mutate(offspring, 0.3, 0.3, rng)
    np.testing.assert_array_equal(offspring, before)
    expected = offspring.copy()
    for j in range(offspring.shape[1]):
        for i in range(offspring.shape[0]):
            if reference.random() < 0.3:
                noise = 0.3 * reference.standard_cauchy()
                while abs(noise) > 10.0:
                    noise = 0.3 * reference.standard_cauchy()
                expected[i, j] += noise
    np.testing.assert_array_equal(mutated, expected)
    assert rng.bit_generator.state == reference.bit_generator.state


# ------------------------------------------------------------------------------------------------------- replace_worst


def test_replace_worst_sorts_best_first_and_puts_offspring_last():
    n, m, n_offspring = 6, 12, 6
    rng = np.random.default_rng(15)
    population = labelled_population(n, m)
    fitness = rng.normal(size=m)
    order = kernels.rank(fitness)
    offspring = rng.normal(size=(n, n_offspring)) + 0.5  # not integers, so never confused with old weights
    population_before, fitness_before = population.copy(), fitness.copy()

    new_population, new_fitness, is_offspring = kernels.replace_worst(population, fitness, order, offspring)

    survivors = m - n_offspring
    assert new_population.shape == (n, m) and new_fitness.shape == (m,) and is_offspring.shape == (m,)
    np.testing.assert_array_equal(new_population[:, :survivors], population[:, order[:survivors]])
    np.testing.assert_array_equal(new_fitness[:survivors], fitness[order[:survivors]])
    assert np.all(np.diff(new_fitness[:survivors]) <= 0), "columns must be sorted best first"
    # The survivors are exactly the top m - l networks.
    surviving_columns = set(new_population[0, :survivors].astype(int))
    assert surviving_columns == set(np.argsort(-fitness)[:survivors])
    np.testing.assert_array_equal(new_population[:, survivors:], offspring)
    assert np.all(np.isnan(new_fitness[survivors:]))
    np.testing.assert_array_equal(is_offspring, np.arange(m) >= survivors)
    np.testing.assert_array_equal(population, population_before)
    np.testing.assert_array_equal(fitness, fitness_before)


# ------------------------------------------------------------------------------------------------------------ mark_all


def test_mark_all_marks_everything_but_offspring():
    is_offspring = np.array([False, False, True, False, True, True])
    marks = kernels.mark_all(5, is_offspring)
    assert marks.shape == (5, 6) and marks.dtype == np.bool_
    np.testing.assert_array_equal(marks, np.tile(~is_offspring, (5, 1)))


# ----------------------------------------------------------------------------------- permutation probabilities (Eq. 1)


def test_permutation_probabilities_follow_equation_1():
    rng = np.random.default_rng(16)
    for n in (1, 3, 40):
        fitness = rng.normal(size=15)
        fitness[[4, 11]] = np.nan
        valid = ~np.isnan(fitness)
        f_min, f_max = fitness[valid].min(), fitness[valid].max()
        expected = np.zeros(15)
        expected[valid] = 1.0 - ((fitness[valid] - f_min) / (f_max - f_min)) ** (1.0 / n)
        prob = kernels.permutation_probabilities(fitness, n)
        np.testing.assert_allclose(prob, expected, rtol=0, atol=1e-12)
        assert prob[np.nanargmax(fitness)] == 0.0
        assert prob[np.nanargmin(fitness)] == 1.0
        assert np.all(prob[~valid] == 0.0)


def test_permutation_probabilities_are_zero_when_all_fitness_is_equal():
    np.testing.assert_array_equal(kernels.permutation_probabilities(np.full(8, 2.5), 10), np.zeros(8))
    np.testing.assert_array_equal(kernels.permutation_probabilities(np.array([1.0, np.nan, 1.0]), 3), np.zeros(3))


def test_mark_proportional_never_marks_best_or_offspring_and_always_marks_worst():
    n = 200
    rng = np.random.default_rng(17)
    fitness = np.array([5.0, 1.0, 3.0, np.nan, 4.0, 2.0, np.nan])
    frequency = np.zeros(fitness.shape[0])
    for _ in range(50):
        marks = kernels.mark_proportional(n, fitness, rng)
        assert marks.shape == (n, fitness.shape[0])
        assert not marks[:, 0].any(), "the best weight must never be marked"
        assert marks[:, 1].all(), "the worst weight must always be marked"
        assert not marks[:, [3, 6]].any(), "offspring (NaN fitness) must never be marked"
        frequency += marks.mean(axis=0) / 50
    # The marks of the other weights follow the Eq. 1 probability computed with the root n = 200 (sd ~0.005).
    np.testing.assert_allclose(frequency, kernels.permutation_probabilities(fitness, n), atol=0.03)


def test_mark_proportional_marks_nothing_when_all_fitness_is_equal():
    assert not kernels.mark_proportional(30, np.full(10, -1.0), np.random.default_rng(18)).any()


def test_mark_proportional_draws_numpy_stream():
    fitness = np.random.default_rng(19).normal(size=9)
    rng, reference = np.random.default_rng(20), np.random.default_rng(20)
    marks = kernels.mark_proportional(4, fitness, rng)
    prob = kernels.permutation_probabilities(fitness, 4)
    expected = np.array([[reference.random() < prob[j] for j in range(9)] for _ in range(4)])
    np.testing.assert_array_equal(marks, expected)
    assert rng.bit_generator.state == reference.bit_generator.state


# ------------------------------------------------------------------------------------------------------ permute_marked


def test_permute_marked_shuffles_marked_weights_within_each_row_only():
    n, m = 10, 12
    rng = np.random.default_rng(21)
    population = labelled_population(n, m)
    moved = 0
    for _ in range(30):
        marks = rng.random((n, m)) < 0.5
        permuted = kernels.permute_marked(population, marks, rng)
        np.testing.assert_array_equal(np.sort(permuted, axis=1), np.sort(population, axis=1))
        np.testing.assert_array_equal(permuted[~marks], population[~marks])
        for i in range(n):  # marked weights only move to marked positions
            np.testing.assert_array_equal(np.sort(permuted[i, marks[i]]), np.sort(population[i, marks[i]]))
        moved += np.count_nonzero(permuted != population)
    assert moved > 0.5 * 30 * n * m * 0.5 * 0.5, "marked weights must really move"


def test_permute_marked_with_all_marked_gives_independent_row_permutations():
    population = labelled_population(6, 20)
    permuted = kernels.permute_marked(population, np.ones((6, 20), dtype=np.bool_), np.random.default_rng(22))
    source_columns = permuted - 1000.0 * np.arange(6)[:, None]
    assert len({tuple(row) for row in source_columns.astype(int)}) == 6, "rows must be shuffled independently"


def test_permute_marked_draws_numpy_stream():
    rng, reference = np.random.default_rng(23), np.random.default_rng(23)
    population = labelled_population(5, 9)
    marks = np.random.default_rng(24).random((5, 9)) < 0.6
    marks[0] = False
    marks[1] = np.arange(9) == 4  # a single marked weight stays put and draws nothing
    permuted = kernels.permute_marked(population, marks, rng)
    expected = population.copy()
    for i in range(5):
        idx = np.flatnonzero(marks[i])
        if idx.shape[0] > 1:
            expected[i, idx] = population[i, idx[reference.permutation(idx.shape[0])]]
    np.testing.assert_array_equal(permuted, expected)
    assert rng.bit_generator.state == reference.bit_generator.state


# ---------------------------------------------------------------------------------------------------- reproducibility

KERNEL_CALLS: dict[str, Callable[[np.random.Generator], object]] = {
    "select_mates": lambda rng: kernels.select_mates(10, rng),
    "crossover": lambda rng: kernels.crossover(*distinct_parents(), SEGMENTS, rng),
    "recombine": lambda rng: kernels.recombine(labelled_population(12, 20), np.arange(20), 5, SEGMENTS, rng),
    "truncated_cauchy": lambda rng: kernels.truncated_cauchy(5.0, rng),
    "mutate": lambda rng: kernels.mutate(np.zeros((10, 10)), 0.3, 0.3, rng),
    "mark_proportional": lambda rng: kernels.mark_proportional(10, np.linspace(0.0, 1.0, 10), rng),
    "permute_marked": lambda rng: kernels.permute_marked(labelled_population(4, 10), np.ones((4, 10), np.bool_), rng),
}


def as_arrays(result: object) -> list[np.ndarray]:
    return [np.asarray(r) for r in result] if isinstance(result, tuple) else [np.asarray(result)]


@pytest.mark.parametrize("name", sorted(KERNEL_CALLS))
def test_kernel_is_reproducible_and_advances_the_generator(name):
    call = KERNEL_CALLS[name]
    first = as_arrays(call(np.random.default_rng(123)))
    second = as_arrays(call(np.random.default_rng(123)))
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)

    rng = np.random.default_rng(123)
    state = copy.deepcopy(rng.bit_generator.state)
    call(rng)
    assert rng.bit_generator.state != state, "the caller's generator must be advanced"
    third = as_arrays(call(rng))
    assert any(not np.array_equal(x, y) for x, y in zip(first, third, strict=True)), "consecutive calls must differ"


def test_burst_keeps_the_best_network_and_scatters_the_rest_around_it():
    best = np.linspace(-1.0, 1.0, 7)
    population = kernels.burst(best, 12, 0.05, np.random.default_rng(0))
    assert population.shape == (7, 12)
    np.testing.assert_array_equal(population[:, 0], best)
    noise = population[:, 1:] - best[:, None]
    assert np.all(np.abs(noise) <= kernels.CAUCHY_CUTOFF)
    assert np.all(noise != 0)
    # Cauchy of scale 0.05: half the draws within ±0.05.
    assert 0.4 < np.mean(np.abs(noise) < 0.05) < 0.6
