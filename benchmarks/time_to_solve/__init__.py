"""
Time-to-solve benchmark: CoSyNE against CMA-ES, ARS and PPO on classic-control and Box2D tasks.

Every (env, algo, seed) run trains in its own subprocess restricted to one thread and is timed with
process CPU time and wall time, both paused while the policy is evaluated. Every 0.1% of the env's
step budget (``EVAL_FRACTIONS`` lists the envs checked less often) the current policy plays 10
deterministic episodes (seeds 10_000 + i) on a separate env; the paper's pole-balancing envs start from
one state, so there one episode of 100,000 steps is the whole evaluation. The first time the mean reaches
the env's threshold the run is solved, the solving policy is scored on 50 fresh episodes (seeds
20_000 + i; ``--final-episodes 100`` plays the tasks' own 100) and training stops; with ``--confirm`` it is
solved only once those episodes reach the threshold too, and training goes on until they do.

CoSyNE trains with its tuned ``cosyne.yml`` entry; PPO and ARS are built by rl_zoo3's own ``ExperimentManager``
from rl_zoo3's tuned hyperparameters (as ``sb3_cosyne.compare`` does); CMA-ES (the ``cma`` package) optimizes the
flat weights of a small numpy network.

Usage::

    python -m benchmarks.time_to_solve --envs CartPole-v1 Acrobot-v1 --algos cosyne cmaes ars ppo \\
        --seeds 5 --max-cpu 120 --jobs 2 --out results.json --markdown results.md [--resume] [--cold] \\
        [--confirm] [--final-episodes 100] [--summary]

``--out`` (also ``--json``) writes the results document after each run: every run's record, the command, the date
and the machine. The published one is ``docs/results/time_to_solve.json``, which ``python -m benchmarks.render``
turns into the docs' ``<!-- results: time_to_solve -->`` tables. ``--summary`` writes one table per algorithm with a
row per env instead of one table per env.

Modules: ``tasks`` (thresholds, budgets, evaluation schedule), ``tracking`` (the training clock and the evaluations
that decide "solved"), ``models`` (the SB3 models and the tracker's callback), ``zoo`` (PPO and ARS built by rl_zoo3),
``cmaes`` (the CMA-ES baseline), ``training`` (which trainer runs which algorithm), ``worker`` (one timed run, in its
own process), ``runner`` (launching the runs, resuming), ``report`` (the tables) and ``cli`` (the command line).
"""
