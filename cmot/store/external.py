"""External datasets: survey rows that stay where they lie, analysed through their engine.

A Parquet file, folder or glob, or a Spark table, is registered as a dataset without copying
it: its journey spec (detected from a seeded sample, or given as flags or a spec file), the
validation report counted on the engine over every row, and the source's column types are
all the store keeps. Every read goes through the same cleaning SELECT that makes a stored
dataset (`cmot.ingest.clean.cleaning_select`), as a view over the source:

- on DuckDB, `DatasetInfo.table` is that SELECT over `read_parquet(...)` (values written
  in as literals, so the text stands alone like a stored file's), and every page and query
  works as on a stored dataset, pushing filters and segment columns into the scan;
- on Spark, it is a temporary view of the session (`spark_view`), which the sums, with the
  sidebar's filters and segment columns, read where the data lies; the rows that pages list
  or cluster come from a seeded sample the engine draws at registration (`SAMPLE_ROWS`),
  stored as the dataset's file, and the pages say so.

Rows of a lake have no fixed position, so a row's number (`ROW_COL`) is a hash of its
respondent id, and an external dataset needs an id column.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cmot.engine.engines import EngineName, SparkEngine, spark_session
from cmot.errors import CmotError, engine_message
from cmot.ingest.candidates import needs_outcome, with_outcome_hint
from cmot.ingest.clean import cleaning_select, plan_select
from cmot.ingest.detect import Detection
from cmot.ingest.limits import check_column_count
from cmot.ingest.options import IngestOptions
from cmot.ingest.patterns import said
from cmot.ingest.pipeline import detection_of  # a file's detection, run here on the sample
from cmot.ingest.read import RawFile
from cmot.ingest.storable import check_columns
from cmot.ingest.validation import ValidationReport
from cmot.names import quote_ident, quote_literal
from cmot.spec import JourneySpec, validate_spec
from cmot.store.datasets import DatasetInfo, ExternalSource, Store
from cmot.text import code_span

SEED = 20261205  # every sample an engine draws here: the same rows again for the same files
DETECT_ROWS = 50_000  # rows detection profiles (it reads at most PROFILE_ROWS of them)
SAMPLE_ROWS = 100_000  # respondents a Spark dataset's lists, filters and clustering read

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


# ---- Spark ------------------------------------------------------------------------------


def spark_source(session: Any, source: ExternalSource) -> str:
    """The FROM text of a source on Spark: a Parquet location as a temporary view (read in
    place), a table by its (quoted, dotted) name after checking it exists."""
    if source.kind == "parquet":
        roots = allowed_roots() or None
        if roots is not None:  # checked again on every read, as DuckDB's files are
            read_files(source.location, source.files, registered=True)
        return SparkEngine(session).register_parquet(source.location)
    name = ".".join(quote_ident(p) for p in source.location.split("."))
    try:
        session.sql(f"SELECT * FROM {name} LIMIT 0").schema  # noqa: B018 - resolves the name
    except Exception as e:
        raise CmotError(
            f"Spark has no table {code_span(source.location)}: {str(e).splitlines()[0][:200]}. "
            "Give a table the session can read (database.table), or a Parquet path."
        ) from None
    return name


def spark_view_name(info: DatasetInfo) -> str:
    """The quoted name of a Spark dataset's view: one per dataset version and store."""
    digest = hashlib.sha256(str(info.file).encode()).hexdigest()[:16]
    return quote_ident(f"cmot_ds_{digest}")


def spark_view(session: Any, info: DatasetInfo) -> str:
    """Register (again) the Spark dataset `info` as a temporary view of `session`: its
    cleaning SELECT over the source, values bound. Returns spark_view_name(info)."""
    if info.external is None or info.external.engine != "spark":
        raise CmotError(f"{info.label} is not a Spark dataset.")
    return cleaned_view(session, info.external, info.spec, spark_view_name(info))


def cleaned_view(session: Any, source: ExternalSource, spec: JourneySpec, name: str) -> str:
    """`source` read by Spark in the stored layout, as the temporary view `name` (quoted)."""
    rel = spark_source(session, source)
    sql, params = cleaning_select(spec, _types(source), rel, id_hash("spark", spec))
    try:
        session.sql(sql, args=params or None).createOrReplaceTempView(name.strip('"'))
    except Exception as e:
        raise CmotError(
            f"Spark cannot read {source.label} with its mapping: {str(e).splitlines()[0][:300]}"
        ) from None
    return name


# ---- registering ------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """An external source opened on its engine: its FROM text, how to query it, its rows."""

    source: ExternalSource
    relation: str
    engine: Any  # SparkEngine, or None for DuckDB
    con: duckdb.DuckDBPyConnection | None

    def run(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self.engine is not None:
            return list(self.engine.run(sql, params))
        assert self.con is not None
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as e:
            raise SourceError(
                f"DuckDB cannot read {code_span(self.source.location)}: {engine_message(e)}",
                f"DuckDB cannot read this dataset's files: {type(e).__name__}. Ask an analyst.",
            ) from None

    def sample(self, relation: str, rows: int, total: int, params: Sequence[Any] = ()) -> pa.Table:
        """A seeded sample of about `rows` rows of `relation` (all of them when it has no
        more), drawn by the engine, as Arrow (never through PySpark's pandas)."""
        fraction = min(1.0, rows / max(total, 1))
        if self.engine is not None:
            df = self.engine.session.sql(f"SELECT * FROM {relation}", args=list(params) or None)
            if fraction < 1.0:
                df = df.sample(fraction=fraction, seed=SEED)
            try:
                return df.toArrow()
            except Exception as e:
                raise CmotError(f"Spark cannot sample {self.source.label}: {e}") from None
        assert self.con is not None
        pick = f" USING SAMPLE {100 * fraction}% (bernoulli, {SEED})" if fraction < 1.0 else ""
        return self.con.sql(f"SELECT * FROM {relation}{pick}", params=list(params)).to_arrow_table()


def open_external(
    location: str,
    engine: EngineName,
    remote: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Opened:
    """A Parquet location (either engine) or a Spark table's name, opened for reading."""
    location = location.strip()
    if not location:
        raise CmotError("Give a Parquet path or glob, or a Spark table's name.")
    parquet = is_parquet_source(location) or (engine == "spark" and "/" in location)
    roots = allowed_roots() or None
    if engine == "duckdb" or parquet:
        refuse_dot_dot(location)
        if roots is not None:  # before anything tells whether a path exists
            parquet_files(location, roots)
    if engine == "duckdb":
        if remote:
            raise CmotError("--spark-remote runs on Spark: add --engine spark.")
        if not parquet:
            if Path(location).exists():
                raise CmotError(
                    f"{code_span(location)} is no Parquet file: register a .parquet file, a "
                    "folder or a glob of them (a survey file is ingested with `cmot ingest`)."
                )
            raise CmotError(
                f"No Parquet file at {code_span(location)}. A table name needs `--engine spark`."
            )
        files = read_files(location)
        source = ExternalSource("duckdb", "parquet", location, files=tuple(files))
        return Opened(source, read_parquet(files), None, con or duckdb.connect())
    kind = "parquet" if parquet else "table"
    # The files this machine sees (under the roots when set); Spark may see more (a cluster).
    files = parquet_files(location, roots) if parquet else []
    source = ExternalSource("spark", kind, location, remote, files=tuple(files))
    session = spark_session(remote)
    return Opened(source, spark_source(session, source), SparkEngine(session), None)


def _detection_sample(opened: Opened, rows: int) -> tuple[RawFile, int]:
    """A seeded sample of the source in a private DuckDB as the TEMP table `raw`, for
    detection, and the source's row count."""
    total = int(opened.run(f"SELECT count(*) FROM {opened.relation}", [])[0][0])
    if total == 0:
        raise CmotError(f"{opened.source.label} has no rows.")
    data = opened.sample(opened.relation, DETECT_ROWS, total)
    con = duckdb.connect()
    con.register("cmot_sample", data)
    con.execute("CREATE TEMP TABLE raw AS SELECT * FROM cmot_sample")
    con.unregister("cmot_sample")
    raw = RawFile(
        con,
        list(data.column_names),
        data.num_rows,
        "parquet",
        "wide",
        [],
        "",
        opened.source.label,
        format="parquet",
    )
    return raw, total


def map_external(opened: Opened, options: IngestOptions) -> tuple[Detection, JourneySpec, int]:
    """Detect roles on a seeded sample (with what `options` say), the spec and the rows."""
    # $CMOT_MAX_COLUMNS from the schema (DESCRIBE SELECT: one row a column, on either engine).
    width = len(opened.run(f"DESCRIBE SELECT * FROM {opened.relation}", []))
    check_column_count(width, options.max_columns, "The source")
    raw, total = _detection_sample(opened, DETECT_ROWS)
    try:
        det = detection_of(raw, options)
        if options.spec is None and needs_outcome(det):
            det = with_outcome_hint(det, raw.con, "raw", raw.rows)  # the refusal names some
    finally:
        raw.con.close()
    spec = options.spec or det.require_spec()
    if options.spec is not None and options.missing is not None:
        spec = replace(spec, scale=replace(spec.scale, missing=options.missing))
    spec = validate_spec(spec)
    check_columns(spec, raw.columns)
    return det, spec, total


def register_external(
    store: Store,
    name: str,
    location: str,
    engine: EngineName = "duckdb",
    remote: str | None = None,
    options: IngestOptions | None = None,
) -> tuple[DatasetInfo, ValidationReport]:
    """Register `location` as a new version of `name`, read in place by `engine`: mapped on a
    seeded sample, validated on every row (the report counts them on the engine), nothing
    copied but a Spark dataset's seeded sample of SAMPLE_ROWS respondents."""
    opened = open_external(location, engine, remote)
    try:
        det, spec, total = map_external(opened, options or IngestOptions())
        types = {g.column: g.dtype for g in det.columns}
        row = id_hash(engine, spec)
        plan = plan_select(
            opened.run,
            opened.relation,
            spec,
            types,
            opened.source.label,
            "wide",
            "parquet",
            total,
            [g.column for g in det.columns],
            row=row,
        )
        matched = said(det.patterns, list(types))  # what each --touchpoints pattern took
        if matched:
            notes = (*matched, *plan.report.notes)
            plan = replace(plan, report=replace(plan.report, notes=notes))
        source = replace(opened.source, types=tuple(types.items()))
        report = plan.report.to_dict()
        sample = None
        if engine == "spark":
            cleaned = f"({plan.sql})"
            sample = opened.sample(cleaned, SAMPLE_ROWS, plan.report.rows_kept, plan.params)
            report["sample_rows"] = sample.num_rows
            report["sample_seed"] = SEED
        info = store.save_external(name, source, spec, report, sample)
    finally:
        if opened.con is not None:
            opened.con.close()
    return info, plan.report


TABLE_FRESH_S = 900  # a Spark table's results are kept this long: it has no cheap version


def source_version(info: DatasetInfo, now: float | None = None) -> str:
    """A token that changes when an external dataset's rows may have, for cache keys ("" for
    a stored dataset, which never changes): its Parquet files' names, sizes and modification
    times where this machine sees them; else (a table, or files only a Spark cluster sees)
    the current quarter hour, so results are recomputed at least that often."""
    ext = info.external
    if ext is None:
        return ""
    if ext.kind == "parquet":
        try:  # the files a read takes, checked as a read checks them (refusals propagate)
            files = read_files(ext.location, ext.files, registered=True)
        except NoParquet:
            files = []  # none here: a Spark cluster's own, or gone (the read says so)
        if files:
            h = hashlib.sha256()
            for f in files:
                try:
                    st = os.stat(f)
                except OSError:
                    continue  # gone since: the next version says so
                h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            return h.hexdigest()[:16]
    clock = time.time() if now is None else now
    return f"t{int(clock // TABLE_FRESH_S)}"


def sample_note(info: DatasetInfo, saved: bool = False) -> str:
    """What a page says when it reads a Spark dataset's sample ("" for any other dataset);
    `saved`: the view is by a saved segmentation, which only the sample's rows have."""
    if not info.sampled:
        return ""
    drawn = sample_words(info)
    if saved:
        return (
            f"A saved segmentation was clustered on {drawn}: every result by it, the moments "
            "of truth included, is computed on those respondents."
        )
    return (
        f"The moments of truth, their importance and comparisons are Spark's sums over all "
        f"{info.rows_kept:,} respondents; respondent lists, filter values, distributions, "
        f"trends and clustering read {drawn}."
    )


def sample_words(info: DatasetInfo) -> str:
    """What a Spark dataset's stored sample is, in words."""
    n = int(info.report.get("sample_rows", 0))
    if n >= info.rows_kept:
        return (
            f"a copy of all {n:,} respondents, written by Spark at registration (fewer than "
            f"a sample's {SAMPLE_ROWS:,})"
        )
    return (
        f"a seeded sample of {n:,} of the {info.rows_kept:,} respondents, drawn by Spark at "
        f"registration (seed {SEED})"
    )
