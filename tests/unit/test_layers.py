"""The house by stage: every import of cmot's own modules, counting the ones inside
functions and under TYPE_CHECKING, points from a later stage to an earlier one (or its own)
or to the shared vocabulary; no cycle; no import of another module's underscore names.

The stages and the vocabulary are `cmot.STAGES` and `cmot.VOCABULARY`; docs/ARCHITECTURE.md
lists the same stages in the same order (checked below)."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import cmot

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cmot"
VOCAB = "vocabulary"
ENTRY = "entry"  # cmot/__main__.py: runs the command line


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported cmot module
    names: tuple[str, ...]  # what `from target import ...` takes ("" for a plain import)
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Every import of a cmot module in `path`, wherever it stands (a function, an if)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "cmot":
                    yield Import(name, alias.name, ("",), node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            if base.split(".")[0] != "cmot":
                continue
            plain = [a.name for a in node.names if f"{base}.{a.name}" not in known]
            for alias in node.names:
                if f"{base}.{alias.name}" in known:  # `from cmot.x import module`
                    yield Import(name, f"{base}.{alias.name}", ("",), node.lineno)
            if plain:
                yield Import(name, base, tuple(plain), node.lineno)


def all_imports() -> list[Import]:
    mods = modules()
    return [i for n, p in mods.items() for i in imports_of(n, p, set(mods))]


def stage_of(module: str) -> str:
    """The stage a module belongs to: its folder under cmot/, or the vocabulary."""
    parts = module.split(".")
    if parts[0] != "cmot":
        raise ValueError(f"{module} is not a cmot module")
    if len(parts) == 1 or parts[1] in cmot.VOCABULARY:
        return VOCAB
    if parts[1] == "__main__":
        return ENTRY
    if parts[1] in cmot.STAGES:
        return parts[1]
    raise ValueError(
        f"{module} is neither in a stage's folder nor in the vocabulary: move it into the "
        f"folder of its stage ({', '.join(cmot.STAGES)}) or add it to cmot.VOCABULARY"
    )


def allowed(source: str, target: str) -> bool:
    """The table of stage arrows: the vocabulary imports only itself; a stage imports the
    vocabulary, its own stage and the stages before it; the entry point imports anything."""
    if source == ENTRY:
        return True
    if target == VOCAB:
        return True
    if source == VOCAB or target == ENTRY:
        return False
    return cmot.STAGES.index(target) <= cmot.STAGES.index(source)


@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [
        ("ingest", VOCAB, True),
        (VOCAB, VOCAB, True),
        (VOCAB, "ingest", False),
        ("ingest", "store", False),
        ("store", "ingest", True),
        ("engine", "waves", True),
        ("waves", "engine", False),
        ("results", "engine", True),
        ("engine", "results", False),
        ("present", "results", True),
        ("cli", "ui", False),
        ("ui", "cli", True),
        ("ui", "ui", True),
        (ENTRY, "cli", True),
    ],
)
def test_the_table_of_arrows(source: str, target: str, ok: bool) -> None:
    assert allowed(source, target) is ok


@pytest.mark.parametrize(
    ("module", "stage"),
    [
        ("cmot", VOCAB),
        ("cmot.errors", VOCAB),
        ("cmot.names", VOCAB),
        ("cmot.ingest", "ingest"),
        ("cmot.ingest.detect", "ingest"),
        ("cmot.engine.sums", "engine"),
        ("cmot.ui.frame", "ui"),
        ("cmot.__main__", ENTRY),
    ],
)
def test_stage_of(module: str, stage: str) -> None:
    assert stage_of(module) == stage


def test_a_module_outside_the_stages_is_named() -> None:
    with pytest.raises(ValueError, match=r"cmot\.loose"):
        stage_of("cmot.loose")


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from cmot.engine.sums import compute_stats\n")
    found = list(imports_of("cmot.ingest.m", src, set()))
    assert [(i.target, i.names) for i in found] == [("cmot.engine.sums", ("compute_stats",))]
    assert not allowed(stage_of(found[0].source), stage_of(found[0].target))


def test_every_module_is_in_a_stage_or_the_vocabulary() -> None:
    for name in modules():
        stage_of(name)  # raises with what to do
    vocab = {n for n in modules() if stage_of(n) == VOCAB}
    assert vocab == {"cmot", *(f"cmot.{v}" for v in cmot.VOCABULARY)}, (
        "a vocabulary file is missing"
    )


def test_imports_point_from_later_stages_to_earlier_ones() -> None:
    imports = all_imports()
    assert len(imports) > 300  # the walk works
    wrong = [
        f"{i.source} (line {i.line}, stage {stage_of(i.source)}) imports {i.target} "
        f"(stage {stage_of(i.target)})"
        for i in imports
        if not allowed(stage_of(i.source), stage_of(i.target))
    ]
    assert not wrong, (
        "imports against the flow (cmot.STAGES, earliest first): move the code to the stage "
        "that needs it or pass it in as an argument:\n" + "\n".join(wrong)
    )


def test_no_module_imports_another_modules_underscore_names() -> None:
    wrong = sorted(
        f"{i.source} (line {i.line}) imports {n} from {i.target}"
        for i in all_imports()
        for n in i.names
        if n.startswith("_") and not n.startswith("__")
    )
    assert not wrong, "make the name public (and document it) or keep it in its module:\n" + (
        "\n".join(wrong)
    )


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), or a module that
    imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for i in all_imports():
        # A package's __init__ is imported with any of its modules: an import of cmot itself
        # (the vocabulary's CmotError) is not an edge back.
        if i.target != i.source and i.target != "cmot":
            edges.setdefault(i.source, set()).add(i.target)
    found = cycles(edges)
    assert not found, f"import cycles (counting imports inside functions): {found}"


def test_the_architecture_lists_the_stages_in_order() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    listed = re.findall(r"^\s*\d+\.\s+`cmot/(\w+)/`", text, flags=re.M)
    assert listed == list(cmot.STAGES), (
        "docs/ARCHITECTURE.md's numbered list of stages ('1. `cmot/ingest/` ...') must name "
        f"cmot.STAGES in order: {list(cmot.STAGES)}; it names {listed}"
    )
    for word in cmot.VOCABULARY:
        assert f"`cmot/{word}.py`" in text, f"the vocabulary's cmot/{word}.py is not named"


# ---- a reader can hold every module and function ---------------------------------------------

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def too_long() -> set[str]:
    """Modules over MAX_MODULE_LINES lines and functions (methods, nested functions) over
    MAX_FUNCTION_LINES, from the def line to the last line of its body, in cmot/, pages/
    and app.py."""
    found = set()
    paths = [*sorted(PACKAGE.rglob("*.py")), *sorted((ROOT / "pages").glob("*.py"))]
    for path in [*paths, ROOT / "app.py"]:
        where = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            found.add(where)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    found.add(f"{where}:{node.name}")
    return found


def test_modules_and_functions_a_reader_can_hold() -> None:
    found = sorted(too_long())
    assert not found, (
        f"over {MAX_MODULE_LINES} lines (a module) or {MAX_FUNCTION_LINES} (a function): split "
        f"it by meaning: {found}"
    )


def test_the_size_check_finds_a_long_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "cmot"
    fake.mkdir()
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text("")
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (fake / "m.py").write_text(f"def long():\n{body}\n\ndef short():\n    return 1\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert too_long() == {"cmot/m.py:long"}
