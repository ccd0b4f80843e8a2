"""``python -m benchmarks.time_to_solve``: see the package's docstring."""

from benchmarks.time_to_solve.cli import main

main()
