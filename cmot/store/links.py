"""Links: stored dataset versions kept as the waves of one survey, in wave order, with
each later wave's column matches to the first (cmot.waves reads them)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cmot.errors import CmotError
from cmot.store.directory import StoreDirectory, now_text


@dataclass(frozen=True)
class Link:
    """Stored datasets linked as waves of one survey, in wave order.

    mapping: per later dataset id, its column -> the first wave's column (columns it does
    not list keep their names).
    """

    id: int
    name: str
    dataset_ids: tuple[int, ...]
    labels: tuple[str, ...]
    mapping: Mapping[int, Mapping[str, str]]


class Links(StoreDirectory):
    """The links of a store directory (cmot.store.datasets.Store)."""

    def save_link(
        self,
        name: str,
        dataset_ids: Sequence[int],
        labels: Sequence[str],
        mapping: Mapping[int, Mapping[str, str]],
        *,
        replace: bool = False,
    ) -> int:
        """Keep datasets (versions, in wave order) as the waves of `name`; returns its id.

        mapping: per later dataset id, its column -> the first wave's column. replace: an
        existing link of that name is replaced, else it is an error.
        """
        name = name.strip()
        ids = [int(i) for i in dataset_ids]
        labels = [str(x).strip() for x in labels]
        if not name:
            raise CmotError("Give the link a name.")
        if len(ids) < 2:
            raise CmotError("Link two datasets or more: one per wave.")
        if len(set(ids)) != len(ids):
            raise CmotError("A dataset appears twice among the waves; pick each once.")
        if len(labels) != len(ids) or not all(labels) or len(set(labels)) != len(labels):
            raise CmotError(f"Give each of the {len(ids)} waves its own label.")
        unknown = [i for i in mapping if int(i) not in ids[1:]]
        if unknown:
            raise CmotError(
                f"The mapping names dataset ids {unknown} that are not later waves of the link."
            )
        for did, cols in mapping.items():
            targets = list(cols.values())
            if len(set(targets)) != len(targets):
                twice = sorted({t for t in targets if targets.count(t) > 1})
                raise CmotError(
                    f"Two columns of dataset {did} are mapped to the same first-wave column "
                    f"({', '.join(twice)}); map each to its own."
                )
        with self.catalog.write() as con:
            marks = ", ".join("?" for _ in ids)
            found = {
                r[0] for r in con.execute(f"SELECT id FROM datasets WHERE id IN ({marks})", ids)
            }
            if len(found) != len(ids):
                missing = [i for i in ids if i not in found]
                raise CmotError(f"No dataset versions with ids {missing}; they were deleted.")
            old = con.execute("SELECT id FROM links WHERE name = ?", (name,)).fetchall()
            if old and not replace:
                raise CmotError(
                    f"A link named {name!r} exists already; replace it or pick another."
                )
            if old:
                con.execute("DELETE FROM links WHERE id = ?", (old[0][0],))
            link_id = int(
                con.execute(
                    "INSERT INTO links (name, created_at) VALUES (?, ?) RETURNING id",
                    (name, now_text()),
                ).fetchone()[0]
            )
            for pos, (did, label) in enumerate(zip(ids, labels, strict=True)):
                cols = {str(k): str(v) for k, v in dict(mapping.get(did, {})).items()}
                con.execute(
                    "INSERT INTO link_waves (link_id, position, dataset_id, label, mapping_json) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (link_id, pos, did, label, json.dumps(cols, sort_keys=True)),
                )
        return link_id

    def list_links(self) -> pd.DataFrame:
        """id, name, datasets ('name vN' in wave order), labels, created_at; by name."""
        # Joined in Python: SQLite's group_concat has no ORDER BY before 3.44.
        waves = self.catalog.read(
            "SELECT l.id, l.name, l.created_at, d.name || ' v' || d.version, w.label "
            "FROM links l JOIN link_waves w ON w.link_id = l.id "
            "JOIN datasets d ON d.id = w.dataset_id ORDER BY l.name, w.position"
        )
        grouped: dict[int, list[Any]] = {}
        for lid, name, created, dataset, label in waves:
            row = grouped.setdefault(lid, [lid, name, [], [], created])
            row[2].append(dataset)
            row[3].append(label)
        rows = [[r[0], r[1], ", ".join(r[2]), ", ".join(r[3]), r[4]] for r in grouped.values()]
        frame = pd.DataFrame(rows, columns=["id", "name", "datasets", "labels", "created_at"])
        frame["created_at"] = pd.to_datetime(frame["created_at"])
        return frame

    def get_link(self, name: str) -> Link:
        rows = self.catalog.read(
            "SELECT l.id, w.dataset_id, w.label, w.mapping_json FROM links l "
            "JOIN link_waves w ON w.link_id = l.id WHERE l.name = ? ORDER BY w.position",
            (name,),
        )
        if not rows:
            known = ", ".join(self.list_links().name) or "none yet"
            raise CmotError(f"No link named {name!r}. Stored links: {known}.")
        mapping = {int(r[1]): json.loads(r[3]) for r in rows[1:]}
        return Link(
            id=int(rows[0][0]),
            name=name,
            dataset_ids=tuple(int(r[1]) for r in rows),
            labels=tuple(str(r[2]) for r in rows),
            mapping=mapping,
        )

    def delete_link(self, name: str) -> None:
        with self.catalog.write() as con:
            if not con.execute("DELETE FROM links WHERE name = ? RETURNING id", (name,)).fetchall():
                raise CmotError(f"No link named {name!r}; nothing to delete.")
