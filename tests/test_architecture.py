"""The layers: imports flow one way (features -> models -> training -> artifacts -> serving).

Every module of the project is parsed (``ast``, nothing imported) and each
import of a project module, at any depth of the file (functions included), is
checked against :data:`ALLOWED`; the module graph must have no circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "training", "serving", "offers")
ARTIFACTS = "training.artifacts"
#: Layer -> the layers its modules may import (besides their own).
ALLOWED = {
    "features": set(),
    "models": {"features"},
    "training": {"features", "models", ARTIFACTS},
    ARTIFACTS: {"features", "models"},
    "serving": {"features", "models", ARTIFACTS},
    "offers": {"features", "models", "training", ARTIFACTS, "serving"},
}


def layer_of(module: str) -> str | None:
    if module == ARTIFACTS or module.startswith(ARTIFACTS + "."):
        return ARTIFACTS
    top = module.split(".")[0]
    return top if top in PACKAGES else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """Project modules imported by ``module``: ``(name, line)``, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # "from pkg import mod" imports the module pkg.mod when there is one.
            names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix
                     for a in node.names]
        else:
            continue
        found += [(name, node.lineno) for name in names if layer_of(name)]
    return found


def test_every_import_follows_the_layers():
    modules = project_modules()
    assert len(modules) > 100, "the walk found too few modules: is ROOT right?"
    known = set(modules)
    wrong = []
    for module, path in modules.items():
        here = layer_of(module)
        for name, line in imports_of(module, path, known):
            there = layer_of(name)
            if there != here and there not in ALLOWED[here]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports {name} ({there})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_circles():
    modules = project_modules()
    known = set(modules)
    graph = {m: sorted({n for n, _ in imports_of(m, p, known) if n in known and n != m})
             for m, p in modules.items()}
    cycles = _cycles(graph)
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, []))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


@pytest.mark.parametrize("source, importer, expected", [
    ("from serving.engine import load_bundle\n", "training.pipeline", "serving"),
    ("import training.pipeline\n", "serving.server", "training"),
    ("from training import pipeline\n", "training.artifacts.store", "training"),
])
def test_the_check_catches_an_upward_import(tmp_path, source, importer, expected):
    """The walk itself must see a violation (a test that cannot fail proves nothing)."""
    path = tmp_path / "mod.py"
    path.write_text(source)
    known = set(project_modules())
    found = imports_of(importer, path, known)
    assert [layer_of(n) for n, _ in found] == [expected]
    assert expected not in ALLOWED[layer_of(importer)]


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]


def test_every_package_says_what_it_holds_and_what_it_may_import():
    missing = []
    for pkg in PACKAGES:
        for init in sorted((ROOT / pkg).rglob("__init__.py")):
            doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
            if len(doc) < 80 or "Imports:" not in doc:
                missing.append(str(init.relative_to(ROOT)))
    assert not missing, "package docstrings without what they hold and 'Imports:':\n" + "\n".join(
        missing)
