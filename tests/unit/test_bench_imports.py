"""bench/ stands apart from tests/: a benchmark never imports a test module (the browser
benches and tests share bench/_browser.py instead; tests may import bench, not the reverse)."""

from __future__ import annotations

import ast

from tests.conftest import ROOT


def _imports(path: str) -> list[str]:
    tree = ast.parse((ROOT / path).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    return names


def test_no_benchmark_imports_a_test_module() -> None:
    bad = {
        str(p.relative_to(ROOT)): [
            m for m in _imports(str(p.relative_to(ROOT))) if m == "tests" or m.startswith("tests.")
        ]
        for p in sorted((ROOT / "bench").glob("*.py"))
    }
    assert not {k: v for k, v in bad.items() if v}, bad
