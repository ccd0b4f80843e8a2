"""The docs: the getting-started page's code runs as published, the README stays short, and the site builds."""

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GETTING_STARTED = ROOT / "docs" / "getting-started.md"
README = ROOT / "README.md"

#: The README's two set-up commands, in this order, before anything else: a venv from nothing and the quickstart,
#: then the same with the test extras and the test run.
SETUP_COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e . "
    "&& python examples/quickstart.py",
    'python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e ".[dev]" '
    "&& python -m pytest -n 2",
)


def python_blocks(markdown: str) -> list[str]:
    """The ```python fenced blocks of a markdown page, in order."""
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


def test_python_blocks_are_found():
    blocks = python_blocks("text\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = x\n```\n")
    assert blocks == ["x = 1\n", "y = x\n"]


def test_getting_started_code_runs_in_order(tmp_path, monkeypatch):
    blocks = python_blocks(GETTING_STARTED.read_text())
    assert len(blocks) >= 5, "the getting-started page lost its code blocks"
    monkeypatch.chdir(tmp_path)  # the blocks save models and logs in the working directory
    namespace: dict = {"__name__": "__getting_started__"}
    for index, block in enumerate(blocks):
        code = compile(block, f"{GETTING_STARTED.name}, python block {index + 1}", "exec")
        exec(code, namespace)  # one namespace: later blocks use what earlier ones made
    assert (tmp_path / "cosyne_cartpole.zip").is_file()


def test_readme_is_short_and_starts_with_the_setup_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; the manual belongs in docs/"
    commands = [line.strip() for line in lines if line.startswith("    python3 -m venv")]
    assert tuple(commands[:2]) == SETUP_COMMANDS
    first_code = next(i for i, line in enumerate(lines) if line.startswith("    ") or line.startswith("```"))
    assert lines[first_code].strip() == SETUP_COMMANDS[0], "the quickstart set-up command must come first"
    assert first_code < 10


def hyperparameter_rows(markdown: str) -> list[str]:
    """The names in the first column of a markdown table headed ``| name | default | meaning |``."""
    table = markdown.split("| name | default | meaning |", 1)[1].split("\n\n", 1)[0]
    return [name for row in table.splitlines()[2:] for name in re.findall(r"`(\w+)`", row.split("|")[1])]


@pytest.mark.parametrize("path", [README, ROOT / "docs" / "hyperparameters.md"], ids=lambda path: path.name)
def test_hyperparameter_tables_name_constructor_arguments(path):
    from sb3_cosyne import CoSyNE

    names = hyperparameter_rows(path.read_text())
    assert len(names) >= 10
    unknown = set(names) - set(inspect.signature(CoSyNE.__init__).parameters)
    assert not unknown, f"{path.name} documents hyperparameters CoSyNE does not take: {sorted(unknown)}"


def test_every_cosyne_yml_entry_is_documented():
    from sb3_cosyne.hyperparams import DEFAULT_PATH

    page = (ROOT / "docs" / "hyperparameters.md").read_text()
    rows = {match[1]: match[2] for match in re.finditer(r"^\| `([^`]+)` \|[^|]*\|[^|]*\| (.*) \|$", page, re.MULTILINE)}
    entries = yaml.safe_load(DEFAULT_PATH.read_text())
    for env_id, entry in entries.items():
        assert env_id in rows, f"docs/hyperparameters.md's table lacks the cosyne.yml entry {env_id}"
        # A row may say "as `Other-v0`" when the entries are the same.
        same_as = re.fullmatch(r"as `([^`]+)`", rows[env_id])
        if same_as:
            assert {**entry, "n_timesteps": 0} == {**entries[same_as[1]], "n_timesteps": 0}, env_id
            continue
        for key, value in entry.items():
            if key not in ("n_timesteps", "policy", "policy_kwargs"):
                shown = str(value).lower() if isinstance(value, bool) else value
                assert f"`{key}: {shown}`" in rows[env_id], f"docs/hyperparameters.md's {env_id} row lacks {key}: {value}"


def test_results_markers_are_paired():
    """Every ``<!-- results: NAME -->`` is closed by ``<!-- /results -->`` before the next one opens."""
    for path in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        markers = re.findall(r"<!-- (results: [a-z_]+(?: [a-z_]+)*|/results) -->", path.read_text())
        opened = markers[0::2]
        closed = markers[1::2]
        assert len(opened) == len(closed), path
        assert all(name.startswith("results: ") for name in opened), path
        assert all(name == "/results" for name in closed), path


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("sphinx") is None, reason="needs the docs extra")
def test_docs_build_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(tmp_path / "html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
