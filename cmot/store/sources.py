"""Where an external dataset's rows lie, and how DuckDB reads them there.

`ExternalSource` is what the store keeps of a Parquet location or a Spark table registered
in place (cmot.store.external). A Parquet location is expanded on this machine on every
read (`parquet_files`, `read_files`): every file resolved and checked under
`$CMOT_EXTERNAL_ROOTS` when set, `..` refused. An external DuckDB dataset's rows are the
cleaning SELECT (`cmot.ingest.clean.cleaning_select`) over exactly those files
(`duckdb_relation`, a DuckDB dataset's `DatasetInfo.table`), with its values written in as
literals (`inline`), so the text stands alone like a stored file's.

Rows of a lake have no fixed position, so a row's number (`ROW_COL`) is a hash of its
respondent id (`id_hash`), and an external dataset needs an id column.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cmot.errors import CmotError
from cmot.ingest.clean import cleaning_select
from cmot.names import quote_ident, quote_literal
from cmot.spec import JourneySpec
from cmot.text import code_span

EngineName = Literal["duckdb", "spark"]  # where an external dataset's rows are read and summed


@dataclass(frozen=True)
class ExternalSource:
    """Where an external dataset's rows lie and which engine reads them (cmot.store.external).

    kind: "parquet" (a file, folder or glob) or "table" (a Spark table's name).
    types: the source columns' types (DuckDB's names) its cleaning SQL is planned with.
    files: the Parquet files registering found there (resolved, sorted): what was validated,
    checked again on every read (read_files); () for a table, or a dataset of
    a store from before file lists were kept.
    """

    engine: str  # "duckdb" or "spark" (EngineName)
    kind: str
    location: str
    remote: str | None = None  # sc://host:port of a Spark Connect server; None: local
    types: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        what = "Spark table" if self.kind == "table" else "Parquet"
        return f"{what} {self.location}"


# A row's number from its respondent id (`ROW_COL`): 63 bits of the engine's own 64-bit
# hash. Two ids share one with odds of about n^2 / 2^64 (1e-5 at 10M respondents); it only
# joins a saved segmentation to its rows, and sorts them.
ROW_HASH: dict[str, str] = {
    "duckdb": "(hash({id}) >> 1)::BIGINT",
    "spark": "(xxhash64({id}) & 9223372036854775807)",
}


def is_parquet_source(source: str) -> bool:
    """A Parquet file, a folder of them or a glob (anything else names a Spark table)."""
    return (
        source.lower().endswith((".parquet", ".parquet/"))
        or any(c in source for c in "*?[")
        or Path(source).is_dir()
    )


# The dashboard reads files on its server: only under these folders (':'-separated). Unset,
# it registers nothing (the command line, run by someone on the machine, reads any path).
ENV_EXTERNAL_ROOTS = "CMOT_EXTERNAL_ROOTS"
MAGIC = re.compile(r"[*?\[]")  # a path component with one of these is a pattern


class SourceError(CmotError):
    """A refusal or read error about an external source. Its message names server paths (for
    analysts and the command line); `public` says the same without them, for viewers."""

    def __init__(self, message: str, public: str) -> None:
        super().__init__(message)
        self.public = public


def allowed_roots() -> list[Path]:
    """The folders the dashboard may register Parquet from ($CMOT_EXTERNAL_ROOTS)."""
    text = os.environ.get(ENV_EXTERNAL_ROOTS, "")
    return [Path(p).expanduser().resolve() for p in text.split(":") if p.strip()]


def refuse_dot_dot(location: str) -> None:
    """CmotError when a path component of `location` is `..` (anywhere, even inside a root)."""
    if ".." in location.replace("\\", "/").split("/"):
        raise CmotError(
            f"{code_span(location)} has a `..` in it, and a path that climbs out of a folder is "
            "not read: write it without `..`, from the top folder down (for example "
            "`/srv/lake/responses/*.parquet`)."
        )


def _outside(location: str, roots: Sequence[Path], registered: bool) -> SourceError:
    """The refusal of a location that leads out of `roots`. It names the location as given
    and the roots, never what lies beyond them (a link's target, whether a file exists)."""
    allowed = ", ".join(code_span(str(r)) for r in roots)
    if registered:
        return SourceError(
            f"The files of {code_span(location)} now lead outside the folders this server may "
            f"read ({allowed}): a file or folder became a link elsewhere after the dataset was "
            "registered, so nothing is read. Restore the files, or delete the dataset on the "
            "Data page.",
            "This dataset's files now lead outside the folders this server may read, so "
            "nothing is read. Ask an analyst to restore them or delete the dataset.",
        )
    return SourceError(
        f"{code_span(location)} is outside the folders this server may read ({allowed}): the "
        "path, or a link among its folders and files, leads elsewhere. Move the files under "
        "one of those folders, ask whoever runs the server to add their folder to "
        f"`${ENV_EXTERNAL_ROOTS}`, or register them from a terminal with `python -m cmot "
        "register` (where that variable is unset).",
        "These files lie outside the folders this server may read.",
    )


def _real(path: Path) -> Path | None:
    """`path` with every link resolved; None for a loop of links (nothing to read there)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return None


def _under(real: Path | None, roots: Sequence[Path]) -> bool:
    return real is not None and any(real == r or real.is_relative_to(r) for r in roots)


def _absolute(location: str) -> Path:
    path = Path(location).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def parquet_files(
    location: str, roots: Sequence[Path] | None = None, registered: bool = False
) -> list[str]:
    """The Parquet files `location` (a file, a folder: every .parquet under it, or a glob
    with `*`, `?`, `[...]` and `**`) names now, expanded on this machine, each resolved
    (links followed) and sorted; [] when nothing matches.

    With `roots` (the dashboard's $CMOT_EXTERNAL_ROOTS), the fixed part of the path and
    every folder or file the glob meets must resolve under one of them, else SourceError:
    a link out is refused as soon as the walk meets it, before looking behind it, so a
    refusal tells nothing about what lies outside. `..` is refused with or without roots.
    """
    refuse_dot_dot(location)

    def inside(path: Path) -> Path:
        real = _real(path)
        if roots is not None and not _under(real, roots):
            raise _outside(location, roots, registered)  # a loop of links too: no telling
        return path if real is None else real  # a loop: no file, dropped below

    parts = _absolute(location).parts
    cut = next((i for i, p in enumerate(parts) if MAGIC.search(p)), len(parts))
    base, pattern = inside(Path(*parts[:cut])), list(parts[cut:])
    if not pattern and base.is_dir():
        pattern = ["**", "*.parquet"]  # a folder: every Parquet file under it, as Spark reads

    def entries(folder: Path, glob_part: str) -> list[Path]:
        """`folder`'s entries matching `glob_part`, resolved: `folder` is, so only a link
        needs resolving (and checking)."""
        try:
            with os.scandir(folder) as it:
                found = [(e.name, e.is_symlink()) for e in it]
        except OSError:
            return []
        dot = glob_part.startswith(".")  # hidden entries only for a pattern that says so
        return [
            inside(folder / n) if link else folder / n
            for n, link in sorted(found)
            if fnmatch.fnmatchcase(n, glob_part) and (dot or not n.startswith("."))
        ]

    seen: set[Path] = set()  # folders a `**` walked: a link back to one ends the loop

    def walk(folder: Path, rest: list[str]) -> Iterator[Path]:
        if not rest:
            yield folder
            return
        head, tail = rest[0], rest[1:]
        if head == "**":
            seen.add(folder)
            yield from walk(folder, tail)  # zero folders
            for child in entries(folder, "*"):
                if child not in seen and child.is_dir():
                    yield from walk(child, rest)
            return
        if MAGIC.search(head):
            children = entries(folder, head)
        else:
            path = folder / head
            children = [inside(path)] if os.path.lexists(path) else []
        for child in children:
            if not tail:
                yield child
            elif child.is_dir():
                yield from walk(child, tail)

    found = dict.fromkeys(p for p in walk(base, pattern) if p.is_file())
    return sorted(str(p) for p in found)


def check_allowed(location: str, engine: str) -> None:
    """CmotError unless the dashboard may register `location`: a Parquet path or glob whose
    every folder and file (links and all) lies under an allowed folder (`parquet_files`),
    no `..` in it; a Spark table when any folder is allowed (the session's own rights then
    decide). A location that matches nothing passes here and is refused by registering."""
    roots = allowed_roots()
    if not roots:
        raise CmotError(f"Registering from the dashboard is off: {ENV_EXTERNAL_ROOTS} is not set.")
    # A table's name has no '/': anything with one is a path, checked before any file is
    # looked at (else whether a folder exists outside would decide between the two answers).
    if engine == "spark" and "/" not in location and not is_parquet_source(location):
        return
    parquet_files(location.strip(), roots)


class NoParquet(SourceError):
    """No Parquet file at a location (on this machine)."""


def _no_file(location: str) -> NoParquet:
    return NoParquet(
        f"No Parquet file at {code_span(location)}. Give a .parquet file, a folder of them "
        "or a glob such as `lake/responses/*.parquet`; a dataset registered there reads it in "
        "place, so restore its files or delete the dataset on the Data page.",
        "This dataset's Parquet files are gone from where it was registered. Ask an analyst "
        "to restore them or delete the dataset.",
    )


def read_files(location: str, recorded: Sequence[str] = (), registered: bool = False) -> list[str]:
    """The files a read of `location` takes, checked now: `location` expanded again (files
    added since registering are read, each checked like the first), and the files
    registering `recorded` checked again (one that still exists must still resolve under
    the roots). The roots are $CMOT_EXTERNAL_ROOTS when set; unset, any path (links
    followed). SourceError when one leads out, or when nothing matches."""
    roots = allowed_roots() or None
    if roots is not None:
        for f in recorded:
            if os.path.lexists(f) and not _under(_real(Path(f)), roots):
                raise _outside(location, roots, registered)
    files = parquet_files(location, roots, registered)
    if not files:
        raise _no_file(location)
    return files


def duckdb_source(location: str, recorded: Sequence[str] = (), registered: bool = False) -> str:
    """The FROM text of a Parquet location on DuckDB: exactly the files `read_files` checked,
    as a list (DuckDB never expands a glob itself); SourceError when none or one leads out."""
    return read_parquet(read_files(location, recorded, registered))


def hide_paths(text: str, source: ExternalSource) -> str:
    """`text` with `source`'s location and every path under its folders (as given, and as
    its files resolved) cut to an ellipsis: a message a viewer may read."""
    parts = _absolute(source.location).parts
    cut = next((i for i, p in enumerate(parts) if MAGIC.search(p)), len(parts))
    fixed = Path(*parts[:cut])
    folders = {str(fixed), str(fixed.parent), *(str(Path(f).parent) for f in source.files)}
    cuts = sorted((f for f in folders if len(Path(f).parts) > 1), key=len, reverse=True)
    text = text.replace(source.location, "…")
    for folder in cuts:
        text = re.sub(re.escape(folder) + r"[^\s'\"`]*", "…", text)
    return text


def read_parquet(files: Sequence[str]) -> str:
    """DuckDB's FROM text of exactly `files` (paths written as literals, never a pattern)."""
    return f"read_parquet([{', '.join(quote_literal(f) for f in files)}])"


def literal(value: Any) -> str:
    """A bound value written as an SQL literal (DuckDB), for a relation that stands alone."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value else "'NaN'::DOUBLE"
    return quote_literal(str(value))


def inline(sql: str, params: Sequence[Any]) -> str:
    """`sql` with each `?` placeholder outside quotes replaced by its value's literal."""
    out: list[str] = []
    values = iter(params)
    quote = ""
    for ch in sql:
        if quote:
            quote = "" if ch == quote else quote  # a doubled quote closes and reopens
            out.append(ch)
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append(literal(next(values)))
        else:
            out.append(ch)
    if next(values, None) is not None:
        raise ValueError("more values than placeholders")
    return "".join(out)


def id_hash(engine: str, spec: JourneySpec) -> str:
    """The SQL of `ROW_COL` for an external source on `engine`: a hash of the trimmed id."""
    if spec.id_column is None:
        raise CmotError(
            "An external dataset needs a respondent id column: rows of a lake or a table have "
            'no fixed position. Name it in the journey spec (--spec FILE with `id = "COLUMN"` '
            "under [columns]); detection maps a column named like respondent_id by itself."
        )
    return ROW_HASH[engine].format(id=f"trim({quote_ident(spec.id_column)}::STRING)")


def _types(source: ExternalSource) -> dict[str, str]:
    return dict(source.types)


def duckdb_relation(source: ExternalSource, spec: JourneySpec) -> str:
    """An external DuckDB dataset's rows in the stored layout, as a parenthesised SELECT
    over the source (DatasetInfo.table)."""
    rel = duckdb_source(source.location, source.files, registered=True)
    sql, params = cleaning_select(spec, _types(source), rel, id_hash("duckdb", spec))
    return f"({inline(sql, params)})"
