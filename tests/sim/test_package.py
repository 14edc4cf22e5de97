"""The simulator as a package (``sdw_sim/``): its modules import one way, and take no private names."""

from __future__ import annotations

from helpers import ROOT


def _sim_imports() -> dict[str, set[str]]:
    """Each module of sdw_sim -> the sdw_sim modules it imports (anywhere in it, lazily too).

    ``from sdw_sim import x`` is an import of the module ``sdw_sim.x`` when there
    is one, else of the package's facade (``sdw_sim``, its ``__init__``).
    """
    import ast

    package = ROOT / "sdw_sim"
    modules = {path.stem for path in package.glob("*.py")} - {"__init__"}

    def resolve(name: str) -> str:
        return name if name == "sdw_sim" or name.split(".")[1] in modules else "sdw_sim"

    graph: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        me = "sdw_sim" if path.stem == "__init__" else f"sdw_sim.{path.stem}"
        edges = graph.setdefault(me, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {resolve(a.name) for a in node.names if a.name.startswith("sdw_sim")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sdw_sim"):
                if node.module == "sdw_sim":
                    edges |= {
                        f"sdw_sim.{a.name}" if a.name in modules else "sdw_sim" for a in node.names
                    }
                else:
                    edges.add(resolve(str(node.module)))
        edges.discard(me)
    return graph


def test_the_simulator_imports_one_way() -> None:
    """No import cycle inside sdw_sim, and only outsiders use the package's facade."""
    graph = _sim_imports()
    users_of_facade = sorted(m for m, edges in graph.items() if "sdw_sim" in edges)
    assert users_of_facade == [], users_of_facade
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    # The tools' shared pieces are a module of their own that imports no tool.
    assert not graph["sdw_sim.toolcall"] & {"sdw_sim.tools", "sdw_sim.vmupdate", "sdw_sim.qrexec"}


def test_the_simulator_takes_no_private_names_from_its_other_modules() -> None:
    import ast

    taken = []
    for path in sorted((ROOT / "sdw_sim").glob("*.py")):
        tree = ast.parse(path.read_text())
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sdw_sim"):
                for alias in node.names:
                    if alias.name.startswith("_"):
                        taken.append(f"{path.name}: {node.module}.{alias.name}")
                    modules.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                taken.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert taken == []
