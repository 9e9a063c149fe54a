"""The house's rooms import in one direction only, with no cycles between modules.

``settings`` <- ``data`` <- ``features`` <- ``models`` <- ``training``, ``monitoring``, ``workflows`` <-
``serving`` <- ``vroegsignaal`` (the command line). Every import counts, also those inside functions.
Migrations import no application code; ``bench`` never imports ``tests``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS: dict[str, int] = {
    "settings": 0,
    "data": 1,
    "features": 2,
    "models": 3,
    "training": 4,
    "monitoring": 4,
    "workflows": 4,
    "serving": 5,
    "vroegsignaal": 6,
}
PRODUCT_ROOMS = tuple(LAYERS)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every absolute import in ``path``, at any depth (function-level imports count too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:  # `from workflows import audit` imports the module workflows.audit
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _files(*rooms: str) -> list[Path]:
    return sorted(p for room in rooms for p in (ROOT / room).rglob("*.py"))


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in _files(*PRODUCT_ROOMS)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {target for target in _imports(path) if target in modules and target != name}
    return graph


def test_rooms_import_only_downwards() -> None:
    wrong = []
    for module, targets in _graph().items():
        room = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != room and LAYERS[other] >= LAYERS[room]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the direction:\n  " + "\n  ".join(sorted(wrong))


def test_there_are_no_import_cycles_between_modules() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    # A package importing its own submodules from __init__ is not a cycle worth naming; anything else is.
    real = [c for c in cycles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert not real, "import cycles:\n  " + "\n  ".join(" -> ".join(c) for c in real)


@pytest.mark.parametrize("path", _files("data/alembic/versions"), ids=lambda p: p.name)
def test_migrations_import_no_application_code(path: Path) -> None:
    app = [t for t in _imports(path) if t.split(".")[0] in PRODUCT_ROOMS]
    assert not app, f"{path.name} imports {app}: freeze the constants it needs inside the migration"


def test_bench_never_imports_tests() -> None:
    wrong = [f"{p.name} -> {t}" for p in _files("bench") for t in _imports(p) if t.split(".")[0] == "tests"]
    assert not wrong, wrong


def test_every_test_folder_is_a_package() -> None:
    missing = [
        str(d.relative_to(ROOT))
        for d in (ROOT / "tests").rglob("*")
        if d.is_dir()
        and "__pycache__" not in d.parts
        and any(d.glob("*.py"))
        and not (d / "__init__.py").exists()
    ]
    assert not missing, f"test folders without __init__.py: {missing}"
