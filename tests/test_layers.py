"""The package's layers depend on each other in one direction only (``sb3_cosyne/__init__.py`` lists them)."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parent.parent / "sb3_cosyne"
#: what each layer may import from the package, besides itself
ALLOWED = {
    "core": set(),
    "networks": {"core"},
    "envs": set(),
    "evaluation": {"core", "networks", "envs"},
    "algorithm": {"core", "networks", "envs", "evaluation"},
}
#: third-party packages a layer must not use
FORBIDDEN_PACKAGES = {
    "core": {"torch", "gymnasium", "stable_baselines3"},
    "networks": {"stable_baselines3"},
    "envs": {"torch", "stable_baselines3"},
}


def imports(path: pathlib.Path) -> list[tuple[str, list[str]]]:
    """Every ``import x`` / ``from x import names`` of a module, lazy ones included, as (module, names)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def modules(layer: str) -> list[pathlib.Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer):
    wrong = []
    for path in modules(layer):
        for module, _ in imports(path):
            parts = module.split(".")
            if parts[0] == "sb3_cosyne" and (len(parts) < 2 or parts[1] not in ALLOWED[layer] | {layer}):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
            if parts[0] in FORBIDDEN_PACKAGES.get(layer, ()):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_no_private_name_is_imported_from_another_folder():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        folder = path.parent
        for module, names in imports(path):
            if not module.startswith("sb3_cosyne."):
                continue
            source = PACKAGE.parent.joinpath(*module.split("."))
            source_folder = source if source.is_dir() else source.parent
            private = [name for name in names if name.startswith("_")]
            if private and source_folder != folder:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {private} from {module}")
    assert not wrong, "\n".join(wrong)
