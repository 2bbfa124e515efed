"""The import graph of the house: floors with no arrow back up, no circle, tools/ for programs.

Read from the code's own ``import`` statements (ast, nothing is imported), so a new file is
checked the day it lands. Floors, from the ground: the bundled engine; datasets; trainers; the
support packages (launch, plotting, benchmarking); the programs (train.py, parse_test_res.py,
tools/). A module may import its own floor or lower ones, never a higher one.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOORS = {
    "dassl_fallback": 0, "dassl": 0,
    "datasets": 1,
    "trainers": 2,
    "launch": 3, "plotting": 3, "benchmarking": 3,
    "train": 4, "parse_test_res": 4, "tools": 4,
}
SKIP = {".venv", ".git", "tests", "output", "docs", "scripts", "configs", "__pycache__"}


def project_files(root=REPO):
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if not SKIP.intersection(rel.parts):
            yield rel


def module_name(rel):
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(rel, root=REPO):
    """Absolute dotted names this file imports (relative imports resolved)."""
    tree = ast.parse((root / rel).read_text(encoding="utf-8"))
    package = module_name(rel).split(".")
    if rel.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            yield from (f"{base}.{alias.name}" for alias in node.names)


def project_graph(root=REPO):
    """{module: set of project modules it imports}."""
    files = {module_name(rel): rel for rel in project_files(root)}
    graph = {}
    for name, rel in files.items():
        targets = set()
        for imported in imported_modules(rel, root):
            while imported and imported not in files:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph, files


def floor(module):
    top = module.split(".")[0]
    return FLOORS.get(top)


def test_every_top_level_package_has_a_floor():
    graph, _ = project_graph()
    unplaced = sorted({m.split(".")[0] for m in graph if floor(m) is None})
    assert unplaced == [], f"give these a floor in FLOORS: {unplaced}"


def test_no_arrow_runs_back_up():
    graph, _ = project_graph()
    back_up = [f"{a} -> {b}" for a, targets in graph.items() for b in targets
               if floor(b) > floor(a)]
    assert back_up == []


def test_nothing_imports_train_or_tools_from_outside_tools():
    graph, _ = project_graph()
    bad = [f"{a} -> {b}" for a, targets in graph.items() for b in targets
           if b == "train" or (b.split(".")[0] == "tools" and a.split(".")[0] != "tools")]
    assert bad == []


def test_no_circle():
    graph, _ = project_graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert circles == []


def test_tools_holds_entry_points_only():
    """A file directly in tools/ is a program; a tools/ package is one program with a __main__."""
    tools = REPO / "tools"
    not_programs = [p.name for p in tools.glob("*.py")
                    if p.name != "__init__.py" and "__main__" not in p.read_text(encoding="utf-8")]
    packages_without_main = [p.name for p in tools.iterdir()
                             if p.is_dir() and (p / "__init__.py").exists()
                             and not (p / "__main__.py").exists()]
    assert not_programs == [] and packages_without_main == []


def test_no_tool_imports_another_program():
    """Programs share code through the packages below them, not through each other."""
    graph, _ = project_graph()
    programs = {m for m in graph if m.startswith("tools.") and m.count(".") == 1}
    bad = [f"{a} -> {b}" for a, targets in graph.items() if a.startswith("tools.")
           for b in targets if b in programs]
    assert bad == []


def test_the_scan_sees_an_arrow_back_up_and_a_circle(tmp_path):
    """The scan itself can fail: a trainer importing train.py and tools/, a relative circle."""
    (tmp_path / "trainers").mkdir()
    (tmp_path / "trainers" / "__init__.py").write_text("")
    (tmp_path / "trainers" / "probe.py").write_text("import train\nfrom tools import benchmark\n")
    (tmp_path / "trainers" / "a.py").write_text("from .b import x\n")
    (tmp_path / "trainers" / "b.py").write_text("from . import a\n")
    (tmp_path / "train.py").write_text("")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "benchmark.py").write_text("")
    graph, _ = project_graph(tmp_path)
    assert graph["trainers.probe"] == {"train", "tools.benchmark"}
    assert graph["trainers.a"] == {"trainers.b"} and graph["trainers.b"] == {"trainers.a"}
