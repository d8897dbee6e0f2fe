"""A seeded professional-services client journey with planted, segment-specific moments of truth."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from cmot.ingest.options import IngestOptions
from cmot.spec import (
    JourneySpec,
    Outcome,
    Stage,
    Touchpoint,
    default_scale,
    load_spec,
    save_spec,
)
from cmot.store.datasets import Store
from cmot.store.intake import ingest
from cmot.store.versions import DatasetInfo

DATA_DIR = Path(__file__).resolve().parents[2] / "data"  # the repository's data/
DEMO_CSV = DATA_DIR / "demo_survey.csv"
DEMO_SPEC = DATA_DIR / "demo_spec.toml"
DEMO_NAME = "demo"
SEGMENT_COLUMN = "Segment"
NA_CODE = 0  # "not applicable" on the 1-5 scale

# (stage, touchpoint column, CMoT tags)
JOURNEY: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Pursuit", "Bid/proposal delivery", ("expectation",)),
    ("Pursuit", "Pricing clarity", ("uncertainty",)),
    ("Onboarding", "Project kickoff", ("expectation", "emotion")),
    ("Onboarding", "Team introductions", ()),
    ("Delivery", "Design reviews", ("effort",)),
    ("Delivery", "Progress reporting", ()),
    ("Delivery", "Change orders", ("uncertainty", "effort")),
    ("Delivery", "Site visits", ()),
    ("Commercials", "Invoicing", ("effort",)),
    ("Commercials", "Contract administration", ()),
    ("Closeout", "Project handoff/closeout", ("emotion",)),
    ("Closeout", "Post-project support", ("uncertainty",)),
)
TOUCHPOINTS = tuple(t for _, t, _ in JOURNEY)

SEGMENTS = (
    "Public agencies",
    "Commercial developers",
    "Industrial owners",
    "Private clients",
)

# Planted effects in outcome points (probability of "would hire us again"):
# (penalty, reward) per segment; touchpoints not listed have no effect.
PLANTED: dict[str, dict[str, tuple[float, float]]] = {
    "Public agencies": {
        "Invoicing": (0.22, 0.0),
        "Change orders": (0.24, 0.0),
        "Project handoff/closeout": (0.0, 0.22),
    },
    "Commercial developers": {
        "Change orders": (0.0, 0.24),
        "Progress reporting": (0.22, 0.0),
        "Bid/proposal delivery": (0.0, 0.22),
    },
    "Industrial owners": {
        "Site visits": (0.24, 0.0),
        "Post-project support": (0.0, 0.24),
        "Design reviews": (0.16, 0.16),
    },
    "Private clients": {
        "Pricing clarity": (0.24, 0.0),
        "Project kickoff": (0.0, 0.22),
        "Invoicing": (0.0, 0.22),
    },
}

# Attributes that clustering can recover the segments from.
SECTORS = {
    "Public agencies": ("Government", "Education"),
    "Commercial developers": ("Real estate", "Retail"),
    "Industrial owners": ("Manufacturing", "Energy"),
    "Private clients": ("Residential", "Hospitality"),
}
CONTRACT = {
    "Public agencies": "Fixed fee",
    "Commercial developers": "Design-build",
    "Industrial owners": "Time and materials",
    "Private clients": "Fixed fee",
}
BUDGET_K = {  # median project budget, thousands
    "Public agencies": 2500.0,
    "Commercial developers": 8000.0,
    "Industrial owners": 15000.0,
    "Private clients": 400.0,
}
YEARS = {
    "Public agencies": 9.0,
    "Commercial developers": 4.0,
    "Industrial owners": 12.0,
    "Private clients": 1.5,
}
SAMPLE_SHARE = {"Public agencies": 0.3, "Commercial developers": 0.3}  # over-sampled
POPULATION_SHARE = {
    "Public agencies": 0.2,
    "Commercial developers": 0.25,
    "Industrial owners": 0.25,
    "Private clients": 0.3,
}


def planted_class(penalty: float, reward: float) -> str:
    """The class METHODS.md would give the planted effects (IA thresholds +-0.2)."""
    ris = penalty + reward
    if ris == 0:
        return "low impact"
    ia = (reward - penalty) / ris
    if ia <= -0.2:
        return "vulnerability"
    if ia >= 0.2:
        return "opportunity"
    return "hybrid"


@dataclass(frozen=True)
class DemoData:
    frame: pd.DataFrame
    spec: JourneySpec
    truth: pd.DataFrame  # segment, touchpoint, penalty, reward, planted_class
    flips: tuple[
        str, ...
    ]  # touchpoints that are a vulnerability somewhere, an opportunity elsewhere


def demo_spec() -> JourneySpec:
    stages: dict[str, list[str]] = {}
    for stage, tp, _ in JOURNEY:
        stages.setdefault(stage, []).append(tp)
    return JourneySpec(
        stages=tuple(Stage(s, tuple(tps)) for s, tps in stages.items()),
        touchpoints=tuple(Touchpoint(tp, "", tags) for _, tp, tags in JOURNEY),
        scale=default_scale(1, 5, (NA_CODE,)),
        outcome=Outcome("Would hire again", "binary", ("Yes",)),
        id_column="Client ID",
        weight_column="Weight",
        date_column="Survey date",
        segments=(SEGMENT_COLUMN, "Sector", "Contract type", "Region"),
        attributes=(
            SEGMENT_COLUMN,
            "Sector",
            "Contract type",
            "Region",
            "Project budget (k)",
            "Years as client",
            "Likelihood to recommend",
        ),
        missing={"Likelihood to recommend": (11,)},
        labels={},
    )


def planted_truth() -> pd.DataFrame:
    rows = []
    for seg in SEGMENTS:
        for tp in TOUCHPOINTS:
            p, r = PLANTED[seg].get(tp, (0.0, 0.0))
            rows.append((seg, tp, p, r, planted_class(p, r)))
    return pd.DataFrame(
        rows, columns=["segment", "touchpoint", "penalty", "reward", "planted_class"]
    )


def planted_flips() -> tuple[str, ...]:
    t = planted_truth()
    vul = set(t.loc[t.planted_class == "vulnerability", "touchpoint"])
    opp = set(t.loc[t.planted_class == "opportunity", "touchpoint"])
    return tuple(tp for tp in TOUCHPOINTS if tp in vul & opp)


def outcome_chance(
    seg: np.ndarray,
    ratings: np.ndarray,
    effects: Mapping[str, Mapping[str, tuple[float, float]]] = PLANTED,
    base: float = 0.55,
) -> np.ndarray:
    """Each respondent's chance of the outcome, unclipped: `base` moved by their segment's
    planted penalty of a low rating (1-2) and reward of a top one (5) on each touchpoint,
    the truth the tests recover (the demo, its waves and the demo feed share it)."""
    low, high = ratings <= 2, ratings == 5
    prob = np.full(len(seg), base)
    for s in SEGMENTS:
        rows = seg == s
        for tp, (p, r) in effects[s].items():
            j = TOUCHPOINTS.index(tp)
            prob[rows] += -p * low[rows, j] + r * high[rows, j]
    return prob


def generate_demo(n_per_segment: int = 1500, seed: int = 7) -> DemoData:
    """Simulate a client survey whose moments of truth differ by segment, as planted."""
    rng = np.random.default_rng(seed)
    sizes = {s: n_per_segment for s in SEGMENTS}
    for s, share in SAMPLE_SHARE.items():
        sizes[s] = round(n_per_segment * share / 0.25)
    seg = np.concatenate([np.full(sizes[s], s, dtype=object) for s in SEGMENTS])
    n = len(seg)
    order = rng.permutation(n)
    seg = seg[order]

    # Ratings share a client-level halo, so touchpoints correlate as in real surveys.
    halo = rng.normal(0.0, 0.6, n)
    ratings = np.empty((n, len(TOUCHPOINTS)), dtype=np.int64)
    for j in range(len(TOUCHPOINTS)):
        latent = 0.35 + halo + rng.normal(0.0, 1.0, n)
        ratings[:, j] = np.digitize(latent, [-0.9, -0.35, 0.35, 1.1]) + 1  # 1..5
    prob = np.clip(outcome_chance(seg, ratings), 0.02, 0.98)
    hire = rng.random(n) < prob

    # Not-applicable answers, after the outcome, so they carry no signal of their own.
    na_rate = {
        "Change orders": 0.25,
        "Site visits": 0.15,
        "Post-project support": 0.2,
        "Contract administration": 0.1,
    }
    for tp, rate in na_rate.items():
        j = TOUCHPOINTS.index(tp)
        ratings[rng.random(n) < rate, j] = NA_CODE

    recommend = np.clip(np.rint(1.5 + 10.0 * prob + rng.normal(0, 1.3, n)), 0, 10).astype(int)
    rec_blank = rng.random(n) < 0.03

    sector = np.array(
        [SECTORS[s][int(u < 0.4)] for s, u in zip(seg, rng.random(n), strict=True)],
        dtype=object,
    )
    stray = rng.random(n) < 0.05  # a few clients sit outside their segment's usual sector
    all_sectors = [x for pair in SECTORS.values() for x in pair]
    sector[stray] = rng.choice(all_sectors, stray.sum())
    contract = np.array([CONTRACT[s] for s in seg], dtype=object)
    budget = np.array([BUDGET_K[s] for s in seg]) * np.exp(rng.normal(0, 0.35, n))
    years = np.array([YEARS[s] for s in seg]) * np.exp(rng.normal(0, 0.3, n))
    weight = np.array([POPULATION_SHARE[s] / (sizes[s] / n) for s in seg]) * rng.uniform(
        0.8, 1.25, n
    )
    dates = pd.Timestamp("2026-01-05") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")

    frame = pd.DataFrame({"Client ID": [f"C{100000 + i}" for i in range(n)]})
    frame["Survey date"] = dates.strftime("%Y-%m-%d")
    frame[SEGMENT_COLUMN] = seg
    frame["Sector"] = sector
    frame["Contract type"] = contract
    frame["Region"] = rng.choice(["North", "South", "East", "West"], n)
    frame["Project budget (k)"] = np.round(budget, 1)
    frame["Years as client"] = np.round(years, 1)
    for j, tp in enumerate(TOUCHPOINTS):
        frame[tp] = ratings[:, j]
    frame["Likelihood to recommend"] = np.where(rec_blank, 11, recommend)
    frame["Would hire again"] = np.where(hire, "Yes", "No")
    frame["Weight"] = np.round(weight, 4)
    return DemoData(frame, demo_spec(), planted_truth(), planted_flips())


# ---- several waves with planted changes -----------------------------------------------------

WAVE_COLUMN = "Wave"
WAVE_LABELS = ("2025", "2026", "2027")
# Wave 2: the fix. Pricing clarity, a vulnerability of private clients in wave 1, is fixed
# there: the latent rating moves up by FIX_SHIFT, so far fewer rate it low (its penalty, what
# a low rating costs, stays: the risk at stake falls with the bottom-box share).
FIXED = ("Private clients", "Pricing clarity")
FIX_SHIFT = 1.3
# Wave 3: an opportunity emerges for public agencies only (a top rating of progress
# reporting starts to add to the outcome); every other effect stays as in PLANTED.
EMERGING = ("Public agencies", "Progress reporting", 0.26)
# The waves' base probability: with it every segment's planted effects keep the probability
# inside [0.02, 0.98] (0.04 to 0.98 at the extremes), so no clipping bends the linear model
# and "the rest unchanged" holds for the PRCA coefficients too, at any sample size.
WAVE_BASE = 0.50


@dataclass(frozen=True)
class WavesData:
    """Three waves of the demo survey (column WAVE_COLUMN) and what was planted.

    truth: wave, segment, touchpoint, penalty, reward, planted_class, shift (how far the
    latent rating moved up). changes: segment, touchpoint, from_wave, to_wave, what
    ("fixed" / "emerging"); empty when `planted` was False.
    """

    frame: pd.DataFrame
    spec: JourneySpec
    truth: pd.DataFrame
    changes: pd.DataFrame


def generate_waves(n_per_segment: int = 1500, seed: int = 11, planted: bool = True) -> WavesData:
    """Three seeded waves of the demo journey; with `planted`, one vulnerability fixed in one
    segment (wave 2) and one opportunity emerging in one segment only (wave 3), the rest as
    in wave 1. Without, the three waves are draws of one population (the null)."""
    rng = np.random.default_rng(seed)
    frames, truth = [], []
    for k, label in enumerate(WAVE_LABELS):
        effects = {s: dict(PLANTED[s]) for s in SEGMENTS}
        shift: dict[tuple[str, str], float] = {}
        if planted and k >= 1:
            shift[FIXED] = FIX_SHIFT
        if planted and k >= 2:
            seg, tp, reward = EMERGING
            effects[seg][tp] = (effects[seg].get(tp, (0.0, 0.0))[0], reward)
        frame = _wave_frame(rng, effects, shift, n_per_segment, k)
        frame.insert(1, WAVE_COLUMN, label)
        frames.append(frame)
        for s in SEGMENTS:
            for tp in TOUCHPOINTS:
                p, r = effects[s].get(tp, (0.0, 0.0))
                truth.append((label, s, tp, p, r, planted_class(p, r), shift.get((s, tp), 0.0)))
    changes = pd.DataFrame(
        [
            (FIXED[0], FIXED[1], WAVE_LABELS[0], WAVE_LABELS[1], "fixed"),
            (EMERGING[0], EMERGING[1], WAVE_LABELS[1], WAVE_LABELS[2], "emerging"),
        ]
        if planted
        else [],
        columns=["segment", "touchpoint", "from_wave", "to_wave", "what"],
    )
    spec = demo_spec()
    # The wave column is confirmed as the waves, as an analyst does on the Data page.
    spec = replace(spec, attributes=(*spec.attributes, WAVE_COLUMN), wave_column=WAVE_COLUMN)
    return WavesData(
        pd.concat(frames, ignore_index=True),
        spec,
        pd.DataFrame(
            truth,
            columns=[
                "wave",
                "segment",
                "touchpoint",
                "penalty",
                "reward",
                "planted_class",
                "shift",
            ],
        ),
        changes,
    )


def _wave_frame(
    rng: np.random.Generator,
    effects: dict[str, dict[str, tuple[float, float]]],
    shift: dict[tuple[str, str], float],
    n_per_segment: int,
    wave: int,
) -> pd.DataFrame:
    """One wave, simulated as generate_demo does (halo, cut-offs, not-applicable answers,
    weights), with the wave's effects and latent shifts."""
    sizes = {s: n_per_segment for s in SEGMENTS}
    for s, share in SAMPLE_SHARE.items():
        sizes[s] = round(n_per_segment * share / 0.25)
    seg = rng.permutation(np.concatenate([np.full(sizes[s], s, dtype=object) for s in SEGMENTS]))
    n = len(seg)
    halo = rng.normal(0.0, 0.6, n)
    ratings = np.empty((n, len(TOUCHPOINTS)), dtype=np.int64)
    for j, tp in enumerate(TOUCHPOINTS):
        latent = 0.35 + halo + rng.normal(0.0, 1.0, n)
        for (s, t), up in shift.items():
            if t == tp:
                latent[seg == s] += up
        ratings[:, j] = np.digitize(latent, [-0.9, -0.35, 0.35, 1.1]) + 1
    prob = outcome_chance(seg, ratings, effects, WAVE_BASE)
    hire = rng.random(n) < np.clip(prob, 0.02, 0.98)
    for tp, rate in (("Change orders", 0.25), ("Site visits", 0.15)):
        ratings[rng.random(n) < rate, TOUCHPOINTS.index(tp)] = NA_CODE
    weight = np.array([POPULATION_SHARE[s] / (sizes[s] / n) for s in seg]) * rng.uniform(
        0.8, 1.25, n
    )
    start = pd.Timestamp("2025-02-01") + pd.DateOffset(years=wave)
    dates = start + pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    frame = pd.DataFrame({"Client ID": [f"W{wave + 1}-{100000 + i}" for i in range(n)]})
    frame["Survey date"] = dates.strftime("%Y-%m-%d")
    frame[SEGMENT_COLUMN] = seg
    frame["Sector"] = np.array([SECTORS[s][0] for s in seg], dtype=object)
    frame["Contract type"] = np.array([CONTRACT[s] for s in seg], dtype=object)
    frame["Region"] = rng.choice(["North", "South", "East", "West"], n)
    frame["Project budget (k)"] = np.round(np.array([BUDGET_K[s] for s in seg]), 1)
    frame["Years as client"] = np.round(np.array([YEARS[s] for s in seg]), 1)
    for j, tp in enumerate(TOUCHPOINTS):
        frame[tp] = ratings[:, j]
    frame["Likelihood to recommend"] = np.clip(np.rint(1.5 + 10.0 * prob), 0, 10).astype(int)
    frame["Would hire again"] = np.where(hire, "Yes", "No")
    frame["Weight"] = np.round(weight, 4)
    return frame


def write_demo(directory: Path = DATA_DIR, n_per_segment: int = 1500, seed: int = 7) -> DemoData:
    """Regenerate data/demo_survey.csv and data/demo_spec.toml."""
    demo = generate_demo(n_per_segment, seed)
    directory.mkdir(parents=True, exist_ok=True)
    demo.frame.to_csv(directory / DEMO_CSV.name, index=False, lineterminator="\n")
    save_spec(demo.spec, directory / DEMO_SPEC.name)
    return demo


_DEMO_LOCK = threading.Lock()


def ensure_demo(store: Store) -> DatasetInfo:
    """The stored demo dataset, loaded from data/ the first time a store is used."""
    # Two servers starting on a new store at once load it once: a lock every process shares.
    with _DEMO_LOCK, store.lock("demo"):
        if store.has_dataset(DEMO_NAME):
            return store.get_dataset(DEMO_NAME)
        # Our own file: the upload caps of a hosted server are not meant for it.
        spec = replace(load_spec(DEMO_SPEC), comments=(COMMENT_COLUMN,))
        unlimited = IngestOptions(spec=spec, max_bytes=1 << 40, max_rows=1 << 40)
        info, _ = ingest(store, _with_comments(DEMO_CSV), DEMO_NAME, unlimited, DEMO_CSV.name)
        return info


WAVES_NAME = "demo-waves"


def ensure_demo_waves(store: Store) -> DatasetInfo:
    """The stored demo waves (generate_waves: three waves, column WAVE_COLUMN), made the first
    time they are asked for. Not made by ensure_demo: every new store, and every test's,
    would pay for a second dataset it does not use."""
    with _DEMO_LOCK, store.lock("demo"):
        if store.has_dataset(WAVES_NAME):
            return store.get_dataset(WAVES_NAME)
        waves = generate_waves()
        data = waves.frame.to_csv(index=False, lineterminator="\n").encode()
        unlimited = IngestOptions(spec=waves.spec, max_bytes=1 << 40, max_rows=1 << 40)
        info, _ = ingest(store, data, WAVES_NAME, unlimited, source_name="demo_waves.csv")
        return info


def _with_comments(path: Path) -> bytes:
    """The demo CSV with its general comment column (issue 13), so comments show out of the
    box. Every other cell is kept as the file has it (read as text): no demo figure moves."""
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    text[COMMENT_COLUMN] = demo_comments(pd.read_csv(path)).fillna("")
    return text.to_csv(index=False, lineterminator="\n").encode()


if __name__ == "__main__":
    d = write_demo()
    print(f"wrote {len(d.frame)} respondents to {DEMO_CSV} and the spec to {DEMO_SPEC}")


# Comments (issue 13): each planted moment has a theme its raters write about, low raters of
# a vulnerability, top-box raters of an opportunity. The key phrase is what the evidence
# engine should find first for that moment.
COMMENT_COLUMN = "Comment"
COMMENT_THEMES: dict[tuple[str, str, str], str] = {
    ("Public agencies", "Invoicing", "low"): "billing errors",
    ("Public agencies", "Change orders", "low"): "slow approvals",
    ("Public agencies", "Project handoff/closeout", "high"): "smooth handover",
    ("Commercial developers", "Change orders", "high"): "flexible scope",
    ("Commercial developers", "Progress reporting", "low"): "missing status updates",
    ("Commercial developers", "Bid/proposal delivery", "high"): "sharp proposal",
    ("Industrial owners", "Site visits", "low"): "cancelled visits",
    ("Industrial owners", "Post-project support", "high"): "responsive support",
    ("Industrial owners", "Design reviews", "low"): "ignored review comments",
    ("Industrial owners", "Design reviews", "high"): "thorough reviews",
    ("Private clients", "Pricing clarity", "low"): "hidden fees",
    ("Private clients", "Project kickoff", "high"): "great kickoff meeting",
    ("Private clients", "Invoicing", "high"): "simple invoices",
}
# Templates around the key phrase, and sentences anyone may write (the noise).
_OPENERS = ("", "Honestly, ", "Overall fine but ", "Main point: ", "As before, ")
_CLOSERS = ("", ".", " this year.", " again.", "!", " - please look into it.")
_GENERIC = (
    "The team was friendly.",
    "Communication could be better.",
    "Good value overall.",
    "Nothing special to add.",
    "We will see next year.",
    "Staff turnover was noticeable.",
    "Mostly satisfied with the work.",
)
# A respondent's own words after the template: who said it and when. Comments are sentences
# that mostly differ (cmot.ingest.guesses proposes a column as comments only then), and these words
# are no theme's, so they speak to no moment.
_WHO = (
    "Our site manager", "The project lead", "My deputy", "Our finance office", "The board",
    "Our architect", "My colleagues", "Our operations director", "The facilities staff",
    "Our procurement officer", "The owner's representative", "Our engineers",
)  # fmt: skip
_SAID = (
    "noticed the same", "brought this up", "agreed with me", "mentioned it twice",
    "raised it on our call", "felt the same way", "wrote about it", "asked about it",
    "pointed it out", "shared this view", "remarked on it", "spoke about it", "confirmed it",
    "discussed it at length",
)  # fmt: skip
_WHEN = (
    "in March", "last spring", "during the second phase", "at the final walkthrough",
    "after the summer", "before the holidays", "on the Denver job", "on the north wing",
    "in the autumn", "at the start", "near the end", "twice this quarter",
)  # fmt: skip


def comment_themes() -> pd.DataFrame:
    """Which theme belongs to which planted moment: segment, touchpoint, side, theme."""
    rows = [(s, t, side, theme) for (s, t, side), theme in COMMENT_THEMES.items()]
    return pd.DataFrame(rows, columns=["segment", "touchpoint", "side", "theme"])


def demo_comments(frame: pd.DataFrame, seed: int = 7) -> pd.Series:
    """A general comment per respondent of a `generate_demo` frame, tied to the planted
    moments: a respondent on the side of a planted moment of their segment writes its theme
    (one of them, at random) with probability 0.7; everyone else writes a generic sentence
    with probability 0.35; the rest leave it empty (None).

    Four in five comments go on with the respondent's own sentence (who said so, when), drawn
    from a second stream (seed, 17), so each comment mostly differs from the others.

    A separate RNG stream (seed, 13) so generate_demo's own numbers stay as they were."""
    rng = np.random.default_rng([seed, 13])
    own = np.random.default_rng([seed, 17])
    scale = demo_spec().scale
    n = len(frame)
    seg = frame[SEGMENT_COLUMN].to_numpy()
    u_theme, u_pick, u_generic = rng.random(n), rng.random(n), rng.random(n)
    opener = rng.integers(0, len(_OPENERS), n)
    closer = rng.integers(0, len(_CLOSERS), n)
    generic = rng.integers(0, len(_GENERIC), n)
    extra = rng.random(n) < 0.25  # some themed comments carry a generic sentence too
    who, said, when = (own.integers(0, len(p), n) for p in (_WHO, _SAID, _WHEN))
    personal = own.random(n) < 0.8
    out: list[str | None] = []
    for i in range(n):
        themes = [
            theme
            for (s, tp, side), theme in COMMENT_THEMES.items()
            if s == seg[i]
            and (
                scale.min <= frame[tp].iat[i] <= scale.low_max
                if side == "low"
                else frame[tp].iat[i] >= scale.high_min
            )
        ]
        if themes and u_theme[i] < 0.7:
            theme = themes[int(u_pick[i] * len(themes))]
            text = f"{_OPENERS[opener[i]]}{theme}{_CLOSERS[closer[i]]}"
            if extra[i]:
                text += " " + _GENERIC[generic[i]]
            text = text[0].upper() + text[1:]
        elif u_generic[i] < 0.35:
            text = _GENERIC[generic[i]]
        else:
            out.append(None)
            continue
        if personal[i]:
            end = "" if text.endswith((".", "!")) else "."
            text += f"{end} {_WHO[who[i]]} {_SAID[said[i]]} {_WHEN[when[i]]}."
        out.append(text)
    return pd.Series(out, index=frame.index, name=COMMENT_COLUMN, dtype=object)
