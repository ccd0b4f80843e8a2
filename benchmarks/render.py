"""
Fill the docs' result tables from the committed results: ``python -m benchmarks.render [--check]``.

In ``README.md`` and ``docs/**/*.md``, everything between ``<!-- results: NAME -->`` and ``<!-- /results -->``,
each on a line of its own, is replaced by the table rendered from ``docs/results/NAME.json`` and one line saying
which command produced it, on which machine and when. The same NAME may appear in several files; files without
markers are left alone. The document's ``benchmark`` field picks the renderer. A marker may name several results
files of one benchmark, separated by spaces (``<!-- results: NAME1 NAME2 -->``): their tables become one, with the
rows in the order of the names, then whatever else each file renders (another table), and a line for each file under
it.

Given markdown files (``python -m benchmarks.render docs/results.md``), it renders only those.
``--check`` writes nothing and exits non-zero, naming the file and the marker, when a table in the docs differs
from what the committed JSON renders to (a table edited by hand, or results committed without rendering).
"""

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import compare_document, hard_tasks, startup
from benchmarks.paper_table_report import markdown_table
from benchmarks.provenance import REPO_ROOT
from benchmarks.time_to_solve.report import published_table

#: renders a results document as markdown, by its ``benchmark`` field
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "paper_table": markdown_table,
    "time_to_solve": published_table,
    "hard_tasks": hard_tasks.markdown_table,
    "startup": startup.markdown_table,
    "compare": compare_document.markdown_table,
}
#: an opening marker, and a marked block: its name and what is between the markers (with no other opening marker);
#: markers stand on lines of their own, so that a page can quote one in running text
NAMES = r"[\w.-]+(?: [\w.-]+)*"
OPENING = re.compile(rf"^<!-- results: (?P<name>{NAMES}) -->$", re.MULTILINE)
BLOCK = re.compile(
    rf"(?P<open>^<!-- results: (?P<name>{NAMES}) -->$)(?P<body>(?:(?!^<!-- results: ).)*?)(?P<close>^<!-- /results -->$)",
    re.DOTALL | re.MULTILINE,
)
#: the header and separator lines of a markdown table
HEADER_LINES = 2
#: library versions the provenance line names
VERSIONS = ("numpy", "numba", "torch")


class RenderError(Exception):
    """A marker that cannot be rendered: no such results file, no renderer for it, or no closing marker."""


def shown(path: Path, root: Path) -> str:
    """
    :return: the path relative to the repository when it is inside it
    """
    return str(path.relative_to(root) if path.is_relative_to(root) else path)


def measured(document: dict[str, Any], source: str) -> str:
    """
    :param document: a results document (see ``benchmarks.provenance``)
    :param source: its path, relative to the repository
    :return: where a table comes from: the file, the command, the date and the machine
    """
    machine = document["machine"]
    versions = ", ".join(f"{name} {machine.get(name)}" for name in VERSIONS)
    return (
        f"`{source}`, measured with `{document['command']}` on {document['date'][:10]}: {machine['cores']} cores "
        f"({machine['cpu']}), Python {machine['python']}, {versions}."
    )


def load_document(name: str, results_dir: Path) -> tuple[dict[str, Any], Path]:
    """
    :param name: the stem of a JSON file in ``results_dir``
    :param results_dir: folder of the results documents
    :return: the results document and its path
    :raises RenderError: when the file does not exist or names no known renderer
    """
    path = results_dir / f"{name}.json"
    if not path.exists():
        raise RenderError(f"no results file {path} for marker '<!-- results: {name} -->'")
    document = json.loads(path.read_text())
    if document.get("benchmark") not in RENDERERS:
        raise RenderError(f"{path}: unknown benchmark {document.get('benchmark')!r}; known: {', '.join(RENDERERS)}")
    return document, path


def split_table(rendered: str) -> tuple[list[str], str]:
    """
    :param rendered: a renderer's markdown
    :return: its leading table's lines, and what follows the table (say, a second table), stripped
    """
    lines = rendered.split("\n")
    end = next((index for index, line in enumerate(lines) if not line.startswith("|")), len(lines))
    return lines[:end], "\n".join(lines[end:]).strip()


def render_block(names: str, results_dir: Path, root: Path) -> str:
    """
    :param names: the marker's names, separated by spaces: stems of JSON files in ``results_dir``
    :param results_dir: folder of the results documents
    :param root: the repository (for the paths the provenance lines show)
    :return: what goes between the markers: for several files, their leading tables joined into one (rows in the
        order of the names), then what else each renders (such as ``time_to_solve``'s cold-cache table), in order
    :raises RenderError: when a file does not exist or names no known renderer, or when several files' leading
        tables cannot join (other columns)
    """
    loaded = [load_document(name, results_dir) for name in names.split()]
    rendered = [RENDERERS[document["benchmark"]](document) for document, _ in loaded]
    sources = [measured(document, shown(path, root)) for document, path in loaded]
    if len(loaded) == 1:
        return f"\n\n{rendered[0]}\n\nRendered by `python -m benchmarks.render` from {sources[0]}\n\n"
    parts = [split_table(text) for text in rendered]
    header = parts[0][0][:HEADER_LINES]
    for (table, _), (_, path) in zip(parts, loaded, strict=True):
        if table[:HEADER_LINES] != header:
            raise RenderError(
                f"{path}: its table cannot join {loaded[0][1].name}'s (other columns); give it a marker of its own"
            )
    table = "\n".join(header + [row for table, _ in parts for row in table[HEADER_LINES:]])
    after = "".join(f"\n\n{rest}" for _, rest in parts if rest)
    listed = "\n".join(f"- {source}" for source in sources)
    return f"\n\n{table}{after}\n\nRendered by `python -m benchmarks.render`, row by row, from:\n\n{listed}\n\n"


def fill(text: str, render: Callable[[str], str]) -> tuple[str, list[str]]:
    """
    :param text: a markdown file's text
    :param render: what goes between the markers of a name
    :return: the text with every marked block rendered, and the names of the blocks that changed
    :raises RenderError: on an opening marker without its closing one
    """
    starts = {block.start() for block in BLOCK.finditer(text)}
    unclosed = [match.group("name") for match in OPENING.finditer(text) if match.start() not in starts]
    if unclosed:
        raise RenderError(f"marker '<!-- results: {unclosed[0]} -->' has no '<!-- /results -->' after it")
    changed = []

    def replace(block: re.Match) -> str:
        body = render(block.group("name"))
        if body != block.group("body"):
            changed.append(block.group("name"))
        return block.group("open") + body + block.group("close")

    return BLOCK.sub(replace, text), changed


def markdown_files(root: Path) -> list[Path]:
    """
    :param root: the repository
    :return: ``README.md`` and every markdown file under ``docs/`` (but the built site)
    """
    readme = root / "README.md"
    pages = sorted(path for path in (root / "docs").glob("**/*.md") if "_build" not in path.relative_to(root).parts)
    return ([readme] if readme.exists() else []) + pages


def render_all(root: Path, check: bool, paths: list[Path] | None = None) -> list[str]:
    """
    Render every marked block of the docs, writing the files that change unless ``check``.

    :param root: the repository
    :param check: only compare
    :param paths: the markdown files to render (default: :func:`markdown_files`)
    :return: one line per block that differed, naming the file and the marker
    :raises RenderError: naming the file, on a marker that cannot be rendered
    """
    results_dir = root / "docs" / "results"
    rendered: dict[str, str] = {}

    def render(name: str) -> str:
        if name not in rendered:
            rendered[name] = render_block(name, results_dir, root)
        return rendered[name]

    differences = []
    for path in markdown_files(root) if paths is None else [path.resolve() for path in paths]:
        text = path.read_text()
        try:
            new_text, changed = fill(text, render)
        except RenderError as error:
            raise RenderError(f"{shown(path, root)}: {error}") from error
        differences += [f"{shown(path, root)}: '<!-- results: {name} -->'" for name in changed]
        if changed and not check:
            path.write_text(new_text)
    return differences


def main(argv: list[str] | None = None) -> int:
    """
    :param argv: command-line arguments (``None``: this process's)
    :return: the exit status: 0, or 1 when ``--check`` found a table that differs or a marker could not be rendered
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a table differs from its JSON")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the repository (default: this one)")
    parser.add_argument("files", nargs="*", type=Path, help="only these markdown files (default: README.md and docs/**/*.md)")
    args = parser.parse_args(argv)
    try:
        differences = render_all(args.root.resolve(), args.check, args.files or None)
    except RenderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for difference in differences:
        verb = "differs from its results file (run python -m benchmarks.render)" if args.check else "rendered"
        print(f"{difference} {verb}", file=sys.stderr if args.check else sys.stdout)
    return 1 if args.check and differences else 0


if __name__ == "__main__":
    sys.exit(main())
