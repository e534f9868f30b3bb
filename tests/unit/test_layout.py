"""The shape of the code: no import cycle between the packages of hotline.

import-linter (run by scripts/test) holds the layers and the borders; this test holds what it
cannot say: that no two packages of `hotline` depend on each other, directly or around a loop.
"""

from __future__ import annotations

import grimp


def package_graph() -> dict[str, set[str]]:
    # Imports under `if TYPE_CHECKING:` are left out: they name a type for the reader and mypy
    # (`hotline.services.Services` names every collaborator so), no dependency at run time.
    graph = grimp.build_graph("hotline", exclude_type_checking_imports=True)
    packages = sorted({m.split(".")[1] for m in graph.modules if m.count(".") >= 1})
    return {
        a: {
            b
            for b in packages
            if a != b
            and graph.direct_import_exists(
                importer=f"hotline.{a}", imported=f"hotline.{b}", as_packages=True
            )
        }
        for a in packages
    }


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A loop of packages, if there is one (depth-first search)."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(edges.get(node, ())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(edges):
        found = visit(start, [])
        if found:
            return found
    return None


def test_no_package_of_hotline_imports_around_a_loop() -> None:
    loop = cycle(package_graph())
    assert loop is None, " -> ".join(loop or [])


def test_the_cycle_finder_finds_a_loop() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}}) is None
