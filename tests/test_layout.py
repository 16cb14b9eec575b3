"""The package's shape: no import cycles between its modules, no module too long to read,
and `import vidcolor` changes nothing (read from the source with `ast`; nothing is imported)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vidcolor

ROOT = Path(vidcolor.__file__).parent
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = ("vidcolor",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def top_level_statements(tree: ast.Module):
    """The statements that run when the module is imported: not those inside functions, nor
    under `if TYPE_CHECKING:`; class bodies and module-level if/try/with blocks do run."""
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending += node.orelse
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            pending += [child for child in getattr(node, field, []) if isinstance(child, (ast.stmt, ast.excepthandler))]


def imported_modules(name: str, path: Path) -> set[str]:
    """The vidcolor modules that `name` imports at module level."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in top_level_statements(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from .pkg import name` imports the submodule pkg.name when there is one
            found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names}
    return {module for module in found if module in MODULES and module != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_import_graph_is_read_from_every_module():
    graph = {name: imported_modules(name, path) for name, path in MODULES.items()}
    assert {"vidcolor.cli", "vidcolor.model", "vidcolor.outputs"} <= set(graph)
    assert "vidcolor.errors" in graph["vidcolor.outputs"]  # relative imports are resolved
    assert "vidcolor.model" not in graph["vidcolor.cli"]  # function-level imports do not count
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_among_the_modules():
    graph = {name: imported_modules(name, path) for name, path in MODULES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_readable_in_length(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]}: {lines} lines (at most {MAX_LINES}): split it"


def test_importing_vidcolor_changes_no_environment_but_keras_comes_quiet():
    """TensorFlow's start-up chatter is silenced where Keras is imported (model.import_keras), not at `import vidcolor`."""
    code = ("import os, sys, vidcolor, vidcolor.cli, vidcolor.model; before = dict(os.environ); "
            "assert 'tensorflow' not in sys.modules; vidcolor.model.import_keras(); "
            "print(before.get('TF_CPP_MIN_LOG_LEVEL'), os.environ.get('TF_CPP_MIN_LOG_LEVEL'))")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "3"]
