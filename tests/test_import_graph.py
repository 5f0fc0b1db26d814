"""The import graph of flows/, tasks/ and db/, read from the source by grimp (nothing is imported).

The layers: flows (orchestration) over tasks (the work) over db (the system of record). Inside
tasks, the four phase packages meet only through shared modules (tasks.domain, tasks.depth,
tasks.media, tasks.storage, ...), so a phase can change its internals without another phase
noticing, and no module or package imports itself back through others. Imports inside functions
count: a lazy import is still a dependency. Imports under `if TYPE_CHECKING:` do not.
"""

from __future__ import annotations

import graphlib
from itertools import permutations

import grimp
import pytest

PHASES = ("tasks.analyze", "tasks.render", "tasks.timeline", "tasks.assemble")
LAYERS = ("flows", "tasks", "db")


def build() -> grimp.ImportGraph:
    return grimp.build_graph(*LAYERS, cache_dir=None, exclude_type_checking_imports=True)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return build()


def where(graph: grimp.ImportGraph, chain: tuple[str, ...]) -> str:
    """A chain of imports as `a:line -> b:line -> c`, the lines where each import is written."""
    steps = []
    for importer, imported in zip(chain, chain[1:]):
        details = graph.get_import_details(importer=importer, imported=imported)
        steps.append(f"{importer}:{details[0]['line_number']}" if details else importer)
    return " -> ".join([*steps, chain[-1]])


def test_no_module_imports_itself_back(graph: grimp.ImportGraph) -> None:
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as err:
        cycle = tuple(reversed(err.args[1]))  # graphlib lists it against the import direction
        pytest.fail(f"import cycle: {where(graph, cycle)}")


def test_no_package_imports_itself_back(graph: grimp.ImportGraph) -> None:
    """Between the children of every package (tasks.analyze <-> tasks.timeline, say), even where
    no single module closes the loop."""
    packages = sorted(m for m in graph.modules if graph.find_children(m))
    cycles = {p: graph.nominate_cycle_breakers(p) for p in packages}
    assert {p: breakers for p, breakers in cycles.items() if breakers} == {}


@pytest.mark.parametrize(("importer", "imported"), list(permutations(PHASES, 2)))
def test_phase_packages_meet_only_through_shared_modules(graph: grimp.ImportGraph, importer: str,
                                                         imported: str) -> None:
    chain = graph.find_shortest_chain(importer=importer, imported=imported, as_packages=True)
    assert chain is None, f"{importer} depends on {imported}: {where(graph, chain)}"


def test_db_is_the_bottom_layer_and_tasks_never_reach_into_flows(graph: grimp.ImportGraph) -> None:
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS)
    assert sorted(
        f"{dependency.importer} imports {dependency.imported}: "
        + "; ".join(" -> ".join([*sorted(r.heads), *r.middle, *sorted(r.tails)]) for r in dependency.routes)
        for dependency in illegal
    ) == []


def test_the_checks_see_a_violation() -> None:
    """A phase importing another, and db importing tasks, are caught (the graph is not empty)."""
    graph = build()
    graph.add_import(importer="tasks.timeline.phase", imported="tasks.analyze.plan")
    graph.add_import(importer="db.models", imported="tasks.settings")
    assert graph.find_shortest_chain(importer="tasks.timeline", imported="tasks.analyze", as_packages=True)
    assert graph.find_illegal_dependencies_for_layers(layers=LAYERS)
