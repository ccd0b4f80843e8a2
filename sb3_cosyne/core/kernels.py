"""Numba kernels of CoSyNE's evolutionary operators (Gomez, Schmidhuber & Miikkulainen, JMLR 9, 2008).

Every kernel is a pure function over arrays: the population comes in, a new array goes out, and all
randomness is drawn from the ``numpy.random.Generator`` passed as ``rng`` (Numba draws exactly numpy's
stream from it), so one generator owned by the caller makes a whole run reproducible and resumable.

The population is a matrix of shape ``(n, m)``: row ``i`` is the subpopulation of synapse ``i``,
column ``j`` is network ``j``.

Where Numba's implementation of a numpy function takes long to compile (``argsort``, ``Generator.integers`` and
``Generator.permutation``, fancy indexing, assigning arrays to slices), the kernels compute the same numbers in a few
lines of their own, drawing through Numba's ports of numpy's generators: a first run compiles them in a fraction of
the time. Before Numba first compiles one of the package's kernels in a process, :data:`COMPILE_NOTICE` is printed.
"""

import sys

import numpy as np
from numba import njit
from numba.core import event
from numba.np.random.generator_core import next_uint32
from numba.np.random.random_methods import bounded_lemire_uint64, buffered_bounded_lemire_uint32, random_interval

#: Gomez's truncated Cauchy: a draw whose magnitude exceeds this is drawn again.
CAUCHY_CUTOFF = 10.0
#: printed to stderr, once per process, before Numba first compiles one of the package's kernels
COMPILE_NOTICE = "compiling kernels, first run only"


class _CompileNotice(event.Listener):
    """
    Prints :data:`COMPILE_NOTICE` when Numba starts compiling one of the package's kernels for the first time in the
    process. Numba announces compilations only, not loads from its on-disk cache: a kernel compiles when the cache
    lacks it (a first run, a new Numba, edited sources), and a first run's kernels take seconds to compile, a pause
    that could pass for a hang.
    """

    def __init__(self) -> None:
        self.printed = False

    def on_start(self, ev: event.Event) -> None:
        function = getattr(ev.data.get("dispatcher"), "py_func", None)
        if not self.printed and getattr(function, "__module__", "").startswith("sb3_cosyne."):
            self.printed = True
            print(COMPILE_NOTICE, file=sys.stderr, flush=True)

    def on_end(self, ev: event.Event) -> None:
        pass


# On import: importing any of the package's modules imports the package, hence this module, before a kernel compiles.
event.register("numba:compile", _CompileNotice())


@njit(cache=True, inline="always")
def _better(a: float, b: float) -> bool:
    """Whether fitness ``a`` ranks strictly before ``b``: higher, or a number against NaN."""
    return a > b or (np.isnan(b) and not np.isnan(a))


@njit(cache=True)
def rank(fitness: np.ndarray) -> np.ndarray:
    """
    Order of the networks from best to worst (ties keep the lower index first).

    :param fitness: fitness of each network, shape ``(m,)``; higher is better, NaN must be replaced beforehand
    :return: network indices sorted by decreasing fitness
    """
    # A bottom-up merge sort rather than np.argsort(-fitness, kind="mergesort"), whose Numba implementation takes
    # over a second to compile; both sorts are stable (NaN last), so the order is the same.
    m = fitness.shape[0]
    order = np.empty(m, dtype=np.int64)
    merged = np.empty(m, dtype=np.int64)
    for k in range(m):
        order[k] = k
    width = 1
    while width < m:
        for left in range(0, m, 2 * width):
            middle, right = min(left + width, m), min(left + 2 * width, m)
            i, j = left, middle
            for k in range(left, right):
                if j < right and (i == middle or _better(fitness[order[j]], fitness[order[i]])):
                    merged[k] = order[j]
                    j += 1
                else:
                    merged[k] = order[i]
                    i += 1
        order, merged = merged, order
        width *= 2
    return order


@njit(cache=True)
def select_mates(n_parents: int, rng: np.random.Generator) -> np.ndarray:
    """
    Mate of each parent: the parent of rank ``r`` mates with a better-ranked parent drawn uniformly,
    the best parent (rank 0) with any parent (itself included), as in Gomez's reference code.

    :param n_parents: number of parents (the top quarter of the population)
    :param rng: random generator
    :return: rank of the mate of each parent, shape ``(n_parents,)``
    """
    mates = np.empty(n_parents, dtype=np.int64)
    for r in range(n_parents):
        mates[r] = integer_below(n_parents if r == 0 else r, rng)
    return mates


@njit(cache=True, inline="always")
def integer_below(high: int, rng: np.random.Generator) -> int:
    """
    ``rng.integers(0, high)``: the same number from the same draws (numpy's Lemire rejection on 32 or 64 bits, through
    Numba's ports of numpy's bounded generators, as Numba's ``integers`` draws it).

    :param high: the exclusive upper bound, at least 1
    :param rng: random generator
    :return: an integer in ``[0, high)``
    """
    if high < 1:
        raise ValueError("high <= 0")
    span = high - 1
    if span == 0:
        return 0
    if span < 0xFFFFFFFF:
        return np.int64(buffered_bounded_lemire_uint32(rng.bit_generator, span))
    if span == 0xFFFFFFFF:
        return np.int64(next_uint32(rng.bit_generator))
    return np.int64(bounded_lemire_uint64(rng.bit_generator, span))


@njit(cache=True)
def crossover(
    parent_a: np.ndarray, parent_b: np.ndarray, segments: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """
    One-point crossover applied to each neuron segment of two chromosomes, giving two children.

    In every segment a cut point ``c`` is drawn uniformly in ``[start, end)``; the first child takes
    ``a[start:c]`` and ``b[c:end]``, the second the complement.

    :param parent_a: first parent chromosome, shape ``(n,)``
    :param parent_b: second parent chromosome, shape ``(n,)``
    :param segments: segment boundaries, shape ``(k + 1,)``: segment ``s`` is ``[segments[s], segments[s + 1])``
    :param rng: random generator
    :return: the two children
    """
    child_a = parent_a.copy()
    child_b = parent_b.copy()
    for s in range(segments.shape[0] - 1):
        start, end = segments[s], segments[s + 1]
        cut = start + integer_below(end - start, rng)
        for i in range(cut, end):
            child_a[i] = parent_b[i]
            child_b[i] = parent_a[i]
    return child_a, child_b


@njit(cache=True)
def recombine(
    population: np.ndarray, order: np.ndarray, n_parents: int, segments: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """
    Offspring of the top ``n_parents`` networks: each parent mates once (see :func:`select_mates`)
    and every mating yields two children by :func:`crossover`.

    :param population: population matrix, shape ``(n, m)``
    :param order: network indices from best to worst (see :func:`rank`)
    :param n_parents: number of parents
    :param segments: neuron segment boundaries (see :func:`crossover`)
    :param rng: random generator
    :return: offspring chromosomes as columns, shape ``(n, 2 * n_parents)``
    """
    mates = select_mates(n_parents, rng)
    offspring = np.empty((population.shape[0], 2 * n_parents))
    for r in range(n_parents):
        child_a, child_b = crossover(population[:, order[r]], population[:, order[mates[r]]], segments, rng)
        # element by element: assigning an array to a column compiles Numba's shape-mismatch message (seconds)
        for i in range(offspring.shape[0]):
            offspring[i, 2 * r] = child_a[i]
            offspring[i, 2 * r + 1] = child_b[i]
    return offspring


@njit(cache=True)
def truncated_cauchy(scale: float, rng: np.random.Generator) -> float:
    """
    Cauchy noise of the given scale, redrawn while its magnitude exceeds :data:`CAUCHY_CUTOFF`.

    :param scale: scale of the Cauchy distribution
    :param rng: random generator
    :return: one draw
    """
    while True:
        noise = scale * rng.standard_cauchy()
        if abs(noise) <= CAUCHY_CUTOFF:
            return noise


@njit(cache=True)
def mutate(offspring: np.ndarray, mutation_prob: float, mutation_scale: float, rng: np.random.Generator) -> np.ndarray:
    """
    Perturb each weight of the offspring with probability ``mutation_prob`` by truncated Cauchy noise.

    :param offspring: offspring chromosomes as columns, shape ``(n, l)``
    :param mutation_prob: probability that a weight is perturbed
    :param mutation_scale: scale of the Cauchy noise
    :param rng: random generator
    :return: the mutated offspring (a new array)
    """
    mutated = offspring.copy()
    for j in range(offspring.shape[1]):
        for i in range(offspring.shape[0]):
            if rng.random() < mutation_prob:
                mutated[i, j] += truncated_cauchy(mutation_scale, rng)
    return mutated


@njit(cache=True)
def replace_worst(population: np.ndarray, fitness: np.ndarray, order: np.ndarray, offspring: np.ndarray):
    """
    Sort every subpopulation by fitness and overwrite its ``l`` least fit weights with the offspring's.

    A weight's fitness is that of the network it was part of, so sorting every subpopulation is the same
    column reordering; the returned matrix has its columns from best to worst, offspring last.

    :param population: population matrix, shape ``(n, m)``
    :param fitness: fitness of each network, shape ``(m,)``
    :param order: network indices from best to worst
    :param offspring: offspring chromosomes as columns, shape ``(n, l)``
    :return: the new population, the fitness of its weights (NaN for offspring, which have none yet),
        and a mask of shape ``(m,)`` that is True on offspring columns
    """
    m = population.shape[1]
    n_kept = m - offspring.shape[1]
    new_population = np.empty(population.shape)
    new_fitness = np.empty(m)
    is_offspring = np.empty(m, dtype=np.bool_)
    # element by element: fancy indexing and assigning arrays compile Numba's shape-mismatch message (seconds)
    for j in range(m):
        is_offspring[j] = j >= n_kept
        new_fitness[j] = np.nan if is_offspring[j] else fitness[order[j]]
    for i in range(population.shape[0]):
        for j in range(m):
            new_population[i, j] = offspring[i, j - n_kept] if is_offspring[j] else population[i, order[j]]
    return new_population, new_fitness, is_offspring


@njit(cache=True)
def mark_all(n: int, is_offspring: np.ndarray) -> np.ndarray:
    """
    Marks for the permutation used in the paper's experiments: every weight except the new offspring.

    :param n: number of subpopulations
    :param is_offspring: True on offspring columns, shape ``(m,)``
    :return: boolean marks, shape ``(n, m)``
    """
    marks = np.empty((n, is_offspring.shape[0]), dtype=np.bool_)
    for i in range(n):
        for j in range(is_offspring.shape[0]):
            marks[i, j] = not is_offspring[j]
    return marks


@njit(cache=True)
def permutation_probabilities(fitness: np.ndarray, n: int) -> np.ndarray:
    """
    Probability of marking each weight, paper Eq. 1: ``1 - ((f - f_min) / (f_max - f_min)) ** (1 / n)``.

    Weights without a fitness (NaN: new offspring) get probability 0. When all fitness values are
    equal every weight counts as the best and none is marked.

    :param fitness: fitness of each weight's last network, shape ``(m,)``
    :param n: number of subpopulations (the root of Eq. 1)
    :return: marking probabilities, shape ``(m,)``
    """
    f_min, f_max = np.inf, -np.inf
    for f in fitness:
        if not np.isnan(f):
            f_min = min(f_min, f)
            f_max = max(f_max, f)
    prob = np.zeros(fitness.shape[0])
    if f_max > f_min:
        for j in range(fitness.shape[0]):
            if not np.isnan(fitness[j]):
                prob[j] = 1.0 - ((fitness[j] - f_min) / (f_max - f_min)) ** (1.0 / n)
    return prob


@njit(cache=True)
def mark_proportional(n: int, fitness: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """
    Mark each weight independently with the probability of paper Eq. 1.

    :param n: number of subpopulations
    :param fitness: fitness of each weight's last network, shape ``(m,)`` (NaN for offspring)
    :param rng: random generator
    :return: boolean marks, shape ``(n, m)``
    """
    prob = permutation_probabilities(fitness, n)
    marks = np.empty((n, fitness.shape[0]), dtype=np.bool_)
    for i in range(n):
        for j in range(fitness.shape[0]):
            marks[i, j] = rng.random() < prob[j]
    return marks


@njit(cache=True)
def permute_marked(population: np.ndarray, marks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """
    Within every subpopulation, shuffle the marked weights among themselves (paper Fig. 4).

    :param population: population matrix, shape ``(n, m)``
    :param marks: boolean marks, shape ``(n, m)``
    :param rng: random generator
    :return: the permuted population (a new array)
    """
    permuted = population.copy()
    marked = np.empty(population.shape[1], dtype=np.int64)
    shuffle = np.empty(population.shape[1], dtype=np.int64)
    for i in range(population.shape[0]):
        n_marked = 0
        for j in range(population.shape[1]):
            if marks[i, j]:
                marked[n_marked] = j
                n_marked += 1
        if n_marked > 1:
            permutation(n_marked, rng, shuffle)
            for k in range(n_marked):
                permuted[i, marked[k]] = population[i, marked[shuffle[k]]]
    return permuted


@njit(cache=True, inline="always")
def permutation(n: int, rng: np.random.Generator, out: np.ndarray) -> None:
    """
    ``rng.permutation(n)`` into ``out[:n]``: the same numbers from the same draws (numpy's shuffle of ``arange(n)``,
    with Numba's port of numpy's ``random_interval``, as Numba's ``permutation`` does). Numba's own ``permutation``
    shuffles arrays of any shape and takes seconds to compile.

    :param n: the number of indices to permute
    :param rng: random generator
    :param out: receives the permutation in its first ``n`` entries
    """
    for k in range(n):
        out[k] = k
    for k in range(n - 1, 0, -1):
        swap = np.int64(random_interval(rng.bit_generator, k))
        out[k], out[swap] = out[swap], out[k]


@njit(cache=True)
def burst(best: np.ndarray, pop_size: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """
    Burst mutation (Gomez's reference code, from ESP): a new population around the best network, each weight
    of every other network being the best one's plus truncated Cauchy noise; the best network itself is kept.

    :param best: the best network's chromosome, shape ``(n,)``
    :param pop_size: number of networks ``m``
    :param scale: scale of the Cauchy noise (Gomez: 0.05)
    :param rng: random generator
    :return: the new population, shape ``(n, m)``, with ``best`` as column 0
    """
    population = np.empty((best.shape[0], pop_size))
    for i in range(best.shape[0]):
        population[i, 0] = best[i]
        for j in range(1, pop_size):
            population[i, j] = best[i] + truncated_cauchy(scale, rng)
    return population
