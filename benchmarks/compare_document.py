"""
Publish a comparison: wrap the ``<env>.json`` that ``python -m sb3_cosyne.compare`` writes as a results document
(``benchmarks.provenance``), so that ``python -m benchmarks.render`` renders its summary table into the docs.

Usage::

    python -m benchmarks.compare_document comparison/LunarLander-v3.json --out docs/results/compare_lunarlander.json \\
        -- --env LunarLander-v3 --algos cosyne ppo ars --seeds 3 ...

The arguments after ``--`` are the comparison's own, as it was run; they become the document's command.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.provenance import make_document, write_document
from sb3_cosyne.compare.results import markdown_table as comparison_table


def markdown_table(document: dict[str, Any]) -> str:
    """
    :param document: a ``compare`` results document
    :return: the comparison's summary table (one row per algorithm), as ``python -m sb3_cosyne.compare`` prints it
    """
    comparison = document["results"]
    return comparison_table(comparison["summaries"], comparison["threshold"]).rstrip("\n")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    # What follows "--" is the comparison's own command line, which argparse is not to read.
    ours, command = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("comparison", type=Path, help="the <env>.json a comparison wrote")
    parser.add_argument("--out", type=Path, required=True, help="the results document to write")
    args = parser.parse_args(ours)
    comparison = json.loads(args.comparison.read_text())
    seeds = sorted({curve["seed"] for curve in comparison["curves"]})
    document = make_document("compare", "sb3_cosyne.compare", seeds, comparison["settings"], comparison, command)
    write_document(args.out, document)


if __name__ == "__main__":
    main()
