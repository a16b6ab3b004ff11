"""The house's layering, checked on the source: nothing imports upward.

write side (``src/casestore``) → read side (``projections``) → HTTP edge (``api``). Only
the entry points may reach up: ``cli.py`` (one verb per command, each importing what it
runs) and ``bootstrap.py`` (the composition root). The edge talks to the service and the
read side, never to the store behind the service.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS = {"cli.py", "bootstrap.py"}


def _imports(folder: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


def test_the_write_side_imports_neither_the_read_side_nor_the_edge() -> None:
    upward = [
        (where, module)
        for where, module in _imports("src/casestore")
        if Path(where).name not in ENTRY_POINTS
        and module.startswith(("casestore.projections", "casestore.api"))
    ]
    assert upward == []


def test_the_read_side_does_not_import_the_edge() -> None:
    assert [(w, m) for w, m in _imports("projections") if m.startswith("casestore.api")] == []


#: The only parts of the store the read side may use: pure functions of a database URL
#: (``config``: which backend, the SQLite file) and of bytes (``integrity``: the chain
#: hash the ledger view recomputes). No connection, no application, no recorder.
PURE_STORE_MODULES = {"casestore.store.config", "casestore.store.integrity"}


def test_the_read_side_reads_the_log_through_its_port_not_the_write_side() -> None:
    """The read side gets the store from the composition root as a
    ``projections.runtime.port.EventLog``; it never imports the application, the store's
    recorders, the service or the composition root itself."""
    reaching = [
        (where, module)
        for where, module in _imports("projections")
        if module.startswith(("casestore.store", "casestore.service", "casestore.bootstrap"))
        and module not in PURE_STORE_MODULES
    ]
    assert reaching == []


def test_the_edge_talks_to_the_service_not_the_store_behind_it() -> None:
    past = [(w, m) for w, m in _imports("api") if m.startswith("casestore.store")]
    assert past == []
    reaching = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "api").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"service\.app\b", line)
    ]
    assert reaching == []


def test_no_module_runs_over_400_lines_without_saying_why() -> None:
    """The house's size rule (STYLE.md): a module over ~400 lines says at its top why it
    is kept whole (its docstring mentions the 400)."""
    unexplained = []
    for folder in ("src/casestore", "projections", "api"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if text.count("\n") > 400:
                doc = ast.get_docstring(ast.parse(text)) or ""
                if "400" not in doc:
                    unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert unexplained == []


#: Where each folder's modules live in the one import namespace (pyproject's package-dir).
PACKAGES = {"src/casestore": "casestore", "projections": "casestore.projections",
            "api": "casestore.api"}  # fmt: skip


def _import_time_edges() -> dict[str, set[str]]:
    """module -> the project modules it imports when it is imported: top-level imports
    (and those in class bodies), not those inside functions (a deliberate lazy import,
    e.g. the composition root building the edge) or under ``if TYPE_CHECKING``."""
    modules: dict[str, tuple[Path, bool]] = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts]
            name = ".".join([package, *(p for p in parts if p != "__init__")])
            modules[name] = (path, parts[-1] == "__init__")

    def statements(body: list[ast.stmt]) -> list[ast.stmt]:
        found: list[ast.stmt] = []
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                found += statements(node.orelse)
                continue
            found.append(node)
            for field in ("body", "orelse", "finalbody", "handlers"):
                found += statements(getattr(node, field, []))
        return found

    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        for node in statements(ast.parse(path.read_text(encoding="utf-8")).body):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".")[: None if is_package else -1]
                    here = here[: len(here) - node.level + 1]
                    base = ".".join([*here, *([node.module] if node.module else [])])
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def test_no_import_circles() -> None:
    """No module needs itself, through others, to be imported (issue 11: no import
    circles). Lazy imports inside functions are not followed: they run after import."""
    edges = _import_time_edges()
    circles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for target in sorted(edges[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])
    assert circles == []
