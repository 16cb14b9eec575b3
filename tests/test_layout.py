"""The package's shape: wings that import only downward, no import cycles between its modules
(counting imports inside functions), no module too long to read, and `import vidcolor` changes nothing (read from the source with `ast`; nothing is imported)."""

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


def imported_modules(name: str, path: Path) -> set[str]:
    """The vidcolor modules that `name` imports anywhere: at module level and inside functions alike
    (an import inside a function is still a dependency, and a circle through one is still a circle)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
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


# The wings in the order a film goes through them, and what each may import: only its own modules and
# those below it. The basics serve everyone; stills is a job like remaster (it reads direction files);
# the studio directs a film or a still in a browser.
BASICS = {"errors", "exits", "color", "outputs", "options", "images", "sheets", "threads"}
MAY_IMPORT = {
    "basics": {"basics"},
    "media": {"basics", "media"},
    "model": {"basics", "model"},
    "film": {"basics", "media", "model", "film"},
    "stills": {"basics", "model", "film", "stills"},
    "training": {"basics", "media", "model", "film", "stills", "training"},
    "batch": {"basics", "media", "model", "film", "stills", "batch"},
    "studio": {"basics", "media", "model", "film", "stills", "studio"},
}


def wing_of(module: str) -> str | None:
    """Which wing a module belongs to; None for the package itself, the CLI and __main__ (the top)."""
    part = module.split(".")[1] if "." in module else None
    if part in BASICS:
        return "basics"
    return part if part in MAY_IMPORT else None


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
    assert "vidcolor.training.train" in graph["vidcolor.cli"]  # function-level imports count too
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_among_the_modules():
    graph = {name: imported_modules(name, path) for name, path in MODULES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_has_a_wing_or_is_the_top():
    top = {name for name in MODULES if wing_of(name) is None}
    assert top == {"vidcolor", "vidcolor.cli", "vidcolor.__main__"}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if wing_of(n)))
def test_each_wing_imports_only_downward(name):
    allowed = MAY_IMPORT[wing_of(name)]
    # the package itself holds only __version__ and lazy names: anyone may read its version
    upward = sorted(m for m in imported_modules(name, MODULES[name]) if m != "vidcolor" and wing_of(m) not in allowed)
    assert not upward, f"{name} ({wing_of(name)}) imports {upward}, above or beside its wing"


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
