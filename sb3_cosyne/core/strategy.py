"""CoSyNE as an ask/tell optimiser over a population matrix; it knows nothing about RL."""

from typing import Any

import numpy as np

from sb3_cosyne.core import kernels

PERMUTATION_MODES = ("all", "proportional", "none")
MUTATION_TARGETS = ("offspring", "non_parents")


def check_int(name: str, value: Any, minimum: int) -> int:
    """
    Check that a setting is an int (not a bool) of at least ``minimum``.

    :raises ValueError: naming the setting and what it must be
    :return: the value as a Python int
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_scale(name: str, value: Any) -> float:
    """
    Check that a setting is a finite number >= 0 (not a bool).

    :raises ValueError: naming the setting and what it must be
    :return: the value as a Python float
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 <= value < np.inf:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_hyperparameters(
    *,
    pop_size: int,
    parent_fraction: float,
    mutation_prob: float,
    mutation_scale: float,
    permutation: str,
    init_scale: float | None = None,
    mutation_target: str = "offspring",
    stagnation: int | None = None,
    burst_scale: float = 0.05,
) -> int:
    """
    Validate CoSyNE's hyperparameters and return the number of parents.

    :param init_scale: None once the population exists (the initial range no longer matters)

    :raises ValueError: naming the offending hyperparameter
    :return: the number of parents, ``int(pop_size * parent_fraction)``
    """
    if isinstance(pop_size, bool) or not isinstance(pop_size, (int, np.integer)):
        raise ValueError(f"pop_size must be an int, got {pop_size!r}")
    for name, value in (("parent_fraction", parent_fraction), ("mutation_prob", mutation_prob)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    scales = [("mutation_scale", mutation_scale), ("burst_scale", burst_scale)]
    if init_scale is not None:
        scales.append(("init_scale", init_scale))
    for name, value in scales:
        check_scale(name, value)
    if stagnation is not None and (
        isinstance(stagnation, bool) or not isinstance(stagnation, (int, np.integer)) or stagnation < 1
    ):
        raise ValueError(f"stagnation must be None or an int >= 1, got {stagnation!r}")
    if permutation not in PERMUTATION_MODES:
        raise ValueError(f"permutation must be one of {PERMUTATION_MODES}, got {permutation!r}")
    if mutation_target not in MUTATION_TARGETS:
        raise ValueError(f"mutation_target must be one of {MUTATION_TARGETS}, got {mutation_target!r}")
    n_parents = int(pop_size * parent_fraction)
    # The 2 * n_parents offspring replace the worst networks, so the parents must survive them.
    if pop_size < 4 or n_parents < 1 or 3 * n_parents > pop_size:
        raise ValueError(
            f"pop_size={pop_size} with parent_fraction={parent_fraction} gives {n_parents} parents: "
            "CoSyNE needs pop_size >= 4 and 1 <= pop_size * parent_fraction <= pop_size / 3"
        )
    return n_parents


def sanitize_fitness(fitness: np.ndarray) -> np.ndarray:
    """
    Give NaN and infinite fitness values a finite value worse than every finite one.

    :param fitness: raw fitness values
    :return: finite fitness values (a new array)
    """
    fitness = np.asarray(fitness, dtype=np.float64)
    finite = np.isfinite(fitness)
    worst = fitness[finite].min() - 1.0 if finite.any() else 0.0
    return np.where(finite, fitness, worst)


class CoSyNEStrategy:
    """
    Cooperative Synapse NeuroEvolution (Gomez, Schmidhuber & Miikkulainen, JMLR 9, 2008, Algorithm 2)
    as an ask/tell optimiser that maximises any fitness function of a parameter vector.

    The ``n`` parameters form ``n`` subpopulations of ``pop_size`` values each: the population matrix of
    shape ``(n, pop_size)``, whose column ``j`` is candidate ``j``. Each :meth:`tell` runs one generation:
    the top ``parent_fraction`` of the candidates are recombined (per-segment one-point crossover, two
    children per mating), the children mutated with truncated Cauchy noise, the worst candidates' weights
    replaced by the children's in every subpopulation, and the weights permuted within each subpopulation.

    :param num_params: number of parameters ``n``
    :param pop_size: number of candidates ``m`` evaluated each generation
    :param segments: boundaries of the chromosome's segments (one per neuron) for crossover, shape ``(k + 1,)``
        from 0 to ``num_params``; None makes the whole chromosome one segment
    :param parent_fraction: fraction of the candidates that become parents (the paper's top quarter)
    :param mutation_prob: probability that each weight of a child is perturbed
    :param mutation_scale: scale of the Cauchy noise (truncated at magnitude 10)
    :param mutation_target: ``"offspring"`` mutates only the new children (the paper's Algorithm 2);
        ``"non_parents"`` mutates every candidate but the parents, children and surviving non-parents alike
        (Gomez's reference code), which keeps subpopulations from collapsing onto a few values
    :param permutation: ``"all"`` permutes every weight but the new children's (the paper's experiments),
        ``"proportional"`` marks weights with the probability of paper Eq. 1, ``"none"`` never permutes
    :param init_scale: initial weights are drawn from ``U[-init_scale, init_scale]`` (around ``init_mean``)
    :param init_mean: centre of the initial population, shape ``(num_params,)``; zeros by default
    :param stagnation: after this many generations without a better best fitness, replace the population by a
        burst mutation around the best network (Gomez's reference code; not in the paper's Algorithm 2); None never
    :param burst_scale: scale of the burst mutation's Cauchy noise
    :param seed: seed of the random generator, used when ``rng`` is None
    :param rng: the random generator that drives every operator
    """

    def __init__(
        self,
        num_params: int,
        pop_size: int = 40,
        *,
        segments: np.ndarray | None = None,
        parent_fraction: float = 0.25,
        mutation_prob: float = 0.3,
        mutation_scale: float = 0.3,
        mutation_target: str = "offspring",
        permutation: str = "all",
        init_scale: float = 1.0,
        init_mean: np.ndarray | None = None,
        stagnation: int | None = None,
        burst_scale: float = 0.05,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        # The rest are checked as they are set, below.
        check_hyperparameters(
            pop_size=pop_size,
            parent_fraction=parent_fraction,
            mutation_prob=mutation_prob,
            mutation_scale=mutation_scale,
            permutation=permutation,
            init_scale=init_scale,
        )
        if isinstance(num_params, bool) or not isinstance(num_params, (int, np.integer)) or num_params < 1:
            raise ValueError(f"num_params must be a positive int, got {num_params!r}")
        self.segments = np.array([0, num_params] if segments is None else segments, dtype=np.int64)
        if self.segments[0] != 0 or self.segments[-1] != num_params or np.any(np.diff(self.segments) < 1):
            raise ValueError(f"segments must increase strictly from 0 to num_params={num_params}, got {self.segments}")
        self.num_params = int(num_params)
        self.pop_size = int(pop_size)
        self.set_hyperparameters(
            parent_fraction=parent_fraction,
            mutation_prob=mutation_prob,
            mutation_scale=mutation_scale,
            mutation_target=mutation_target,
            permutation=permutation,
            stagnation=stagnation,
            burst_scale=burst_scale,
        )
        #: generations since the best fitness last improved
        self.stale_generations = 0
        self.rng = np.random.default_rng(seed) if rng is None else rng
        mean = np.zeros(num_params) if init_mean is None else np.asarray(init_mean, dtype=np.float64)
        self.population = mean[:, None] + self.rng.uniform(-init_scale, init_scale, size=(num_params, pop_size))
        #: fitness of each candidate of the last generation told (NaN before the first :meth:`tell`)
        self.fitness = np.full(pop_size, np.nan)
        self.generation = 0
        #: best candidate ever told and its fitness
        self.best_params: np.ndarray | None = None
        self.best_fitness = -np.inf

    def set_hyperparameters(
        self,
        *,
        parent_fraction: float,
        mutation_prob: float,
        mutation_scale: float,
        mutation_target: str,
        permutation: str,
        stagnation: int | None,
        burst_scale: float,
    ) -> None:
        """
        Set the hyperparameters of the generations to come (at construction, or to go on from a population with
        other settings); the population stays as it is. The parameters are the constructor's.

        :raises ValueError: naming the offending hyperparameter
        """
        self.n_parents = check_hyperparameters(
            pop_size=self.pop_size,
            parent_fraction=parent_fraction,
            mutation_prob=mutation_prob,
            mutation_scale=mutation_scale,
            permutation=permutation,
            mutation_target=mutation_target,
            stagnation=stagnation,
            burst_scale=burst_scale,
        )
        self.parent_fraction = float(parent_fraction)
        self.mutation_prob = float(mutation_prob)
        self.mutation_scale = float(mutation_scale)
        self.mutation_target = mutation_target
        self.permutation = permutation
        self.stagnation = stagnation
        self.burst_scale = float(burst_scale)

    @property
    def n_offspring(self) -> int:
        """Number of children made each generation (``l`` in the paper)."""
        return 2 * self.n_parents

    def ask(self) -> np.ndarray:
        """
        The candidates to evaluate.

        :return: one candidate parameter vector per row, shape ``(pop_size, num_params)`` (a copy)
        """
        return self.population.T.copy()

    def tell(self, fitness: np.ndarray) -> None:
        """
        Run one generation of Algorithm 2 from the fitness of the candidates returned by :meth:`ask`.

        :param fitness: fitness of each candidate (higher is better), shape ``(pop_size,)``;
            NaN and infinite values count as worse than every finite value
        """
        fitness = np.asarray(fitness, dtype=np.float64)
        if fitness.shape != (self.pop_size,):
            raise ValueError(f"tell expects {self.pop_size} fitness values, got shape {fitness.shape}")
        raw = fitness
        fitness = sanitize_fitness(fitness)
        order = kernels.rank(fitness)
        if np.isfinite(raw[order[0]]) and raw[order[0]] > self.best_fitness:
            self.best_fitness = float(raw[order[0]])
            self.best_params = self.population[:, order[0]].copy()
            self.stale_generations = 0
        else:
            self.stale_generations += 1
        self.fitness = raw.copy()
        self.generation += 1
        if self.stagnation is not None and self.stale_generations >= self.stagnation and self.best_params is not None:
            self.population = kernels.burst(self.best_params, self.pop_size, self.burst_scale, self.rng)
            self.stale_generations = 0
            return

        offspring = kernels.recombine(self.population, order, self.n_parents, self.segments, self.rng)
        if self.mutation_target == "offspring":
            offspring = kernels.mutate(offspring, self.mutation_prob, self.mutation_scale, self.rng)
        population, weight_fitness, is_offspring = kernels.replace_worst(self.population, fitness, order, offspring)
        if self.mutation_target == "non_parents":
            # replace_worst sorts the columns best first: the parents are the first n_parents.
            population[:, self.n_parents :] = kernels.mutate(
                np.ascontiguousarray(population[:, self.n_parents :]), self.mutation_prob, self.mutation_scale, self.rng
            )
        if self.permutation == "all":
            population = kernels.permute_marked(population, kernels.mark_all(self.num_params, is_offspring), self.rng)
        elif self.permutation == "proportional":
            marks = kernels.mark_proportional(self.num_params, weight_fitness, self.rng)
            population = kernels.permute_marked(population, marks, self.rng)

        self.population = population
