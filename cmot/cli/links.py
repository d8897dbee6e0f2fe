"""`python -m cmot link` and `links`: stored datasets linked as waves of one survey, their
columns matched to the first wave's with the evidence, saved once confirmed."""

from __future__ import annotations

import argparse

from cmot.cli.flags import split_list
from cmot.errors import CmotError
from cmot.store.datasets import Store
from cmot.waves.harmonise import Match, columns_info, mapping_of, propose_matches


def parse_map(pairs: list[str]) -> dict[str, str]:
    """--map OLD=NEW ...: a later wave's column OLD is the first wave's column NEW."""
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise CmotError(f"--map {pair!r}: write OLD=NEW (a later wave's column = the first's).")
        out[old.strip()] = new.strip()
    return out


def apply_fixes(
    mapping: dict[str, str], fixes: dict[str, str], present: set[str], first: set[str]
) -> dict[str, str]:
    """The proposed mapping with the analyst's fixes for one later wave (those of its columns)."""
    out = dict(mapping)
    for old, new in fixes.items():
        if old not in present:
            continue
        if new not in first:
            raise CmotError(f"--map {old}={new}: the first wave has no column {new!r}.")
        out = {k: v for k, v in out.items() if v != new and k != old}
        out[old] = new
    return out


def _line(m: Match) -> str:
    other = m.other_column if m.other_column is not None else "-"
    return f"  {m.first_column:<24} <- {other:<24} {m.how:<6} {m.evidence}"


def run_link(args: argparse.Namespace) -> int:
    store = Store()
    if len(args.datasets) < 2:
        raise CmotError("Link two datasets or more: one per wave, in order.")
    infos = [store.get_dataset(d) for d in args.datasets]
    labels = list(split_list(args.labels, "--labels")) if args.labels else [i.name for i in infos]
    if len(labels) != len(infos):
        raise CmotError(f"Give one label per dataset: {len(infos)} datasets, {len(labels)} labels.")
    fixes = parse_map(args.map or [])
    first = columns_info(store, infos[0].id)
    mapping: dict[int, dict[str, str]] = {}
    for info in infos[1:]:
        other = columns_info(store, info.id)
        matches = propose_matches(first, other)
        proposed = {k: v for k, v in mapping_of(matches).items()}
        fixed = apply_fixes(proposed, fixes, set(other.names), set(first.names))
        mapping[info.id] = {k: v for k, v in fixed.items() if k != v}
        found = sum(m.other_column is not None for m in matches)
        print(f"{info.label} -> {infos[0].label}: {found} of {len(first.names)} columns matched")
        for m in matches:
            print(_line(m))
        for old, new in fixed.items():
            if proposed.get(old) != new:
                print(f"  {new:<24} <- {old:<24} fixed  (--map)")
        if not found:
            raise CmotError(
                f"No column of {info.label} matches {infos[0].label}: are they the same survey? "
                "Map columns with --map OLD=NEW."
            )
    if not args.yes:
        print("Nothing saved: check the matches, fix any with --map OLD=NEW, then add --yes.")
        return 0
    store.save_link(args.name, [i.id for i in infos], labels, mapping, replace=args.replace)
    print(f"Saved link {args.name!r}: {', '.join(labels)}.")
    return 0


def run_links(args: argparse.Namespace) -> int:
    frame = Store().list_links()
    if frame.empty:
        print("No links yet: python -m cmot link NAME DATASET DATASET ... --yes")
        return 0
    for r in frame.itertuples():
        print(f"{r.name}: {r.datasets} (waves {r.labels})")
    return 0


def add_link_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "link",
        help="link stored datasets as waves of one survey: proposes column matches, --yes saves",
    )
    p.add_argument("name", help="the link's name")
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="stored datasets, in wave order")
    p.add_argument("--labels", metavar="L1,L2,...", help="wave names (default: dataset names)")
    p.add_argument(
        "--map",
        action="append",
        metavar="OLD=NEW",
        help="a later wave's column OLD is the first wave's column NEW (repeat)",
    )
    p.add_argument("--yes", action="store_true", help="save the link with these matches")
    p.add_argument("--replace", action="store_true", help="replace a link of the same name")
    p.set_defaults(run=run_link)


def add_links_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("links", help="list the stored links (datasets as waves)")
    p.set_defaults(run=run_links)
