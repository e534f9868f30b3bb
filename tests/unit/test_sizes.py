"""The size rule of docs/layout.md ("Sizes"): no module of hotline over 500 lines, no function
over 60, unless that page names it and says why (`ALLOWED`, empty today)."""

from __future__ import annotations

import ast
from pathlib import Path

HOTLINE = Path(__file__).resolve().parents[2] / "hotline"
MODULE_LINES, FUNCTION_LINES = 500, 60
ALLOWED: frozenset[str] = frozenset()  # "path" or "path:function", each explained in the docs


def too_long(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        name = str(path.relative_to(root.parent))
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MODULE_LINES and name not in ALLOWED:
            found.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > FUNCTION_LINES and f"{name}:{node.name}" not in ALLOWED:
                    found.append(f"{name}:{node.name}: {lines} lines")
    return found


def test_no_module_or_function_of_hotline_is_over_its_size() -> None:
    assert too_long(HOTLINE) == []


def test_the_size_check_finds_a_long_function_and_a_long_module(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    (pkg / "long_function.py").write_text(f"def f() -> None:\n{body}\n", encoding="utf-8")
    (pkg / "long_module.py").write_text("x = 1\n" * (MODULE_LINES + 1), encoding="utf-8")
    assert too_long(pkg) == [
        f"pkg/long_function.py:f: {FUNCTION_LINES + 1} lines",
        f"pkg/long_module.py: {MODULE_LINES + 1} lines",
    ]
