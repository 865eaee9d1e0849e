"""The layout rules of docs/LAYOUT.md, checked on the source (ast, nothing imported).

- no module of app/, admissions/ or contactbook/ over MAX_LINES lines;
- imports at the top of a module only; a deliberate lazy import (a heavy or optional module,
  or an area's register() keeping its pure parts importable without Flask) says `# lazy:` why
  on its line or the line above;
- the areas never import each other; app/ imports an area only in create_app (app/__init__.py);
- inside an area, imports go downward only: views → entry points (cli, tasks, demo) → feature
  modules → notify/access/forms → models/rules; pure packages (admissions/allocation/) import
  neither Flask nor SQLAlchemy nor the rest of the app;
- no import cycles between modules (function-local imports count too).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "admissions", "contactbook")
AREAS = ("admissions", "contactbook")
MAX_LINES = 500

# Rank of a module inside an area (higher may import lower or equal, never higher). A module
# not named here is a feature module (rank 3).
RANKS = {
    "models": 1,
    "rules": 1,
    "catalog": 1,
    "circulars": 1,
    "allocation": 0,
    "access": 2,
    "forms": 2,
    "notify": 2,
    "cli": 4,
    "tasks": 4,
    "demo": 4,
    "views": 5,
    "area": 6,  # the wiring an area's register(app) plugs in (admissions/area.py), above everything
}
PURE = ("admissions.allocation",)
NOT_PURE = ("flask", "flask_babel", "flask_login", "flask_wtf", "sqlalchemy", "app", "contactbook")

# What is still to be done; each entry goes when its module is mended (never add to these).
TOO_LONG: set[str] = set()
LOCAL_IMPORTS: set[str] = set()
UPWARD: set[tuple[str, str]] = set()
CYCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


@cache
def _parsed(path: Path) -> tuple[ast.Module, list[str]]:
    text = path.read_text(encoding="utf-8")
    return ast.parse(text), text.splitlines()


def _resolve(module: str, path: Path, node: ast.ImportFrom | ast.Import, names: dict[str, Path]) -> list[str]:
    """The project modules an import statement loads."""
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
        return [t for t in targets if t in names or t.split(".")[0] in PACKAGES]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if node.level:
        base = package
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        base = f"{base}.{node.module}" if node.module else base
    else:
        base = node.module or ""
    if base.split(".")[0] not in PACKAGES:
        return []
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append(sub if sub in names else base)
    return out


def _imports() -> list[tuple[str, str, int, bool]]:
    """(importer, imported, line, at top level) for every import between project modules."""
    names = _modules()
    edges = []
    for module, path in names.items():
        tree, _ = _parsed(path)
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _resolve(module, path, node, names):
                    if target != module:
                        edges.append((module, target, node.lineno, id(node) in top))
    return edges


def _all_imports() -> list[tuple[str, str, int, bool]]:
    """Every import (project or not) with its line and whether it stands at the top level."""
    out = []
    for module, path in _modules().items():
        tree, _ = _parsed(path)
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                out.append((module, name or ".", node.lineno, id(node) in top))
    return out


def _rank(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] not in AREAS or len(parts) == 1:
        return None
    return RANKS.get(parts[1], 3)


def test_no_module_is_too_long():
    long = {
        m
        for m, p in _modules().items()
        if len(_parsed(p)[1]) > MAX_LINES and not m.startswith("app.translations")
    }
    assert long - TOO_LONG == set(), f"over {MAX_LINES} lines: split by concern (docs/LAYOUT.md)"
    assert TOO_LONG - long == set(), "mended: take these off TOO_LONG"


def test_imports_stand_at_the_top_unless_marked_lazy():
    local = set()
    for module, _name, line, at_top in _all_imports():
        if at_top:
            continue
        lines = _parsed(_modules()[module])[1]
        if "# lazy:" in lines[line - 1] or (line > 1 and "# lazy:" in lines[line - 2]):
            continue
        # `if TYPE_CHECKING:` blocks are not function-local imports
        if lines[line - 1].startswith("    ") and not lines[line - 1].startswith("        "):
            block = "\n".join(lines[max(0, line - 4) : line])
            if "TYPE_CHECKING" in block:
                continue
        local.add(f"{module}:{line}")
    by_module = {x.split(":")[0] for x in local}
    assert by_module - LOCAL_IMPORTS == set(), (
        f"function-local imports (mark deliberate ones `# lazy: why`): {sorted(local)}"
    )
    assert LOCAL_IMPORTS - by_module == set(), "mended: take these off LOCAL_IMPORTS"


def test_areas_stay_apart_and_app_names_them_only_in_create_app():
    wrong = []
    for importer, target, line, _ in _imports():
        a, b = importer.split(".")[0], target.split(".")[0]
        if a in AREAS and b in AREAS and a != b:
            wrong.append(f"{importer}:{line} -> {target}")
        if a == "app" and b in AREAS and importer != "app":
            wrong.append(f"{importer}:{line} -> {target}")
    assert wrong == []


def test_imports_go_downward_inside_an_area():
    upward = set()
    for importer, target, _line, _ in _imports():
        ri, rt = _rank(importer), _rank(target)
        if ri is None or rt is None or importer.split(".")[0] != target.split(".")[0]:
            continue
        if rt > ri:
            upward.add((importer, target))
    assert upward - UPWARD == set(), f"upward imports: {sorted(upward - UPWARD)}"
    assert UPWARD - upward == set(), "mended: take these off UPWARD"


def test_pure_packages_stay_pure():
    wrong = []
    for module, name, line, _ in _all_imports():
        if any(module == p or module.startswith(p + ".") for p in PURE):
            root = name.split(".")[0]
            inside = any(name == p or name.startswith(p + ".") for p in PURE)
            if root in NOT_PURE or (root in AREAS and not inside):
                wrong.append(f"{module}:{line} imports {name}")
    assert wrong == []


def _cycles(edges: set[tuple[str, str]]) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, out = {}, {}, [], set(), set()
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.add(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    # A package's __init__ that only registers its parts (register(app)) is the area's top, not
    # a member of a cycle: imports *of* an area package from inside it are of its pieces.
    edges = {
        (a, b)
        for a, b, _, _ in _imports()
        if not (b in PACKAGES or b == "app.notifications") or a.split(".")[0] != b.split(".")[0]
    }
    found = _cycles(edges)
    assert found - CYCLES == set(), f"import cycles: {[sorted(c) for c in found - CYCLES]}"
    assert CYCLES - found == set(), "mended: take these off CYCLES"
