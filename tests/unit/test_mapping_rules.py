"""The Data page's mapping rules without Streamlit (`cmot.ingest.mapping_rules`,
`cmot.ingest.mapping_tables`):
what follows from each choice, from tables of cases. The page drawing them is tested in
tests/app/test_data_page.py and its neighbours; a real detection is used where the rule reads
one, a made-up one where the case is about the rule alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cmot.ingest.detect import Detection
from cmot.ingest.guesses import ColumnGuess
from cmot.ingest.mapping_rules import (
    NO_OUTCOME,
    RANGE_HI,
    RANGE_LO,
    Choices,
    bulk_apply,
    bulk_preview,
    comment_columns,
    comment_roles,
    counts_of,
    default_kind,
    detection_problems,
    is_missing,
    looks_like_an_id,
    missing_shown,
    outcome_from_roles,
    outcome_kind,
    outcome_values,
    own_reasons,
    range_inputs,
    save_notes,
    scale_range,
    seed_of,
    seeded_codes,
    short_label,
    user_set_columns,
    weight_candidates,
)
from cmot.ingest.mapping_tables import (
    first_link,
    group_scale,
    journey_edits,
    journey_rows,
    link_name,
    link_options,
    pending_labels,
    roles_edits,
    roles_frame,
    scale_evidence,
    scales_from_rows,
    segment_candidates,
    segment_groups,
    segment_labels_table,
    sibling_groups,
    wave_choices,
)
from cmot.ingest.missing_codes import CodeProposal
from cmot.ingest.options import IngestOptions
from cmot.ingest.outcome_choice import positive_choice
from cmot.ingest.pipeline import detect_roles, validate
from cmot.spec import OTHER, JourneySpec, Outcome, Scale, Stage, Touchpoint


def guess(column: str, role: str = "touchpoint", **kw: Any) -> ColumnGuess:
    base: dict[str, Any] = {
        "kind": "rating",
        "confidence": 0.9,
        "reason": "detected",
        "dtype": "BIGINT",
        "distinct": 5,
        "nulls": 0,
    }
    return ColumnGuess(column, role, **{**base, **kw})


def detection(*columns: ColumnGuess, rows: int = 100, **kw: Any) -> Detection:
    return Detection("wide", "utf-8", rows, tuple(columns), None, **kw)


def spec() -> JourneySpec:
    return JourneySpec(
        stages=(Stage("Before", ("q3_01", "q3_02")), Stage("After", ("q4",))),
        touchpoints=(Touchpoint("q3_01", "Parks"), Touchpoint("q3_02"), Touchpoint("q4")),
        scale=Scale(1, 5, 2, 4, (9,)),
        outcome=Outcome("overall", "scale", (), 1.0, 5.0),
        segments=("region",),
        attributes=("region", "age"),
        comments=("why",),
        comment_links={"why": "After"},
    )


# ---- roles and the outcome picker ------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "picked", "kept", "now", "changes"),
    [
        ({"a": "touchpoint"}, "y", {"a": "touchpoint"}, "y", 0),  # nothing to do
        ({"y": "outcome", "a": "touchpoint"}, "", {"a": "touchpoint"}, "y", 1),  # table says
        ({"y": "attribute"}, "y", {"y": "attribute"}, NO_OUTCOME, 1),  # picked, now not
        ({"x": "outcome", "y": "ignore"}, "y", {"y": "ignore"}, "x", 1),  # moved to x
        ({"y": "ignore", "x": "outcome"}, "y", {"y": "ignore"}, "x", 2),  # both, in order
    ],
)
def test_the_outcome_lives_in_its_picker(
    roles: dict[str, str], picked: str, kept: dict[str, str], now: str, changes: int
) -> None:
    assert outcome_from_roles(roles, picked) == (kept, now, changes)


def test_comment_columns_are_the_analysts_and_detections_left_alone() -> None:
    det = detection(guess("c1", "comment"), guess("c2", "comment"), guess("q1"))
    cases = [
        ({}, {"c1", "c2"}),
        ({"c2": "ignore"}, {"c1"}),
        ({"q1": "comment"}, {"c1", "c2", "q1"}),
    ]
    for roles, expected in cases:
        assert comment_columns(roles, det) == expected, roles


def test_weight_candidates_once_each_in_order() -> None:
    det = detection(guess("wt", "weight"), guess("w2", "ignore"), weight_candidates=("w2", "wt"))
    assert weight_candidates(det) == ["w2", "wt"]
    assert weight_candidates(detection(guess("q1"))) == []


@pytest.mark.parametrize(
    ("guessed", "detected", "kind"),
    [
        ("scale", None, "scale"),
        ("scale", Outcome("y", "recommend"), "recommend"),
        ("binary", Outcome("y", "binary", ("Yes",)), "binary"),
        # Numbers with a text marker: detection's yes/no is taken only where values allow it.
        ("scale", Outcome("y", "binary", ("Blank",)), "scale"),
        ("binary", Outcome("y", "scale"), "scale"),
    ],
)
def test_the_outcome_type_picker_opens_on(
    guessed: str, detected: Outcome | None, kind: str
) -> None:
    assert outcome_kind(guessed, detected) == kind


@pytest.mark.parametrize(
    ("counts", "codes", "kind", "rng", "values"),
    [
        (
            [("1", 3), ("3", 4), ("5", 9), ("9", 2), ("Blank", 1)],
            (9, "Blank"),
            "scale",
            (1.0, 5.0),
            3,
        ),
        ([("1", 3), ("5", 9), ("9", 2)], (), "scale", (1.0, 9.0), 3),
        ([("Yes", 3), ("No", 4), ("DK", 1)], ("dk",), "binary", (1.0, 5.0), 2),
        ([(str(i), 1) for i in range(11)], (), "recommend", (0.0, 10.0), 11),
        ([("0", 5), ("1", 5)], (), "binary", (0.0, 1.0), 2),
    ],
)
def test_kind_range_and_values_leave_out_codes(
    counts: list[tuple[str, int]],
    codes: tuple[Any, ...],
    kind: str,
    rng: tuple[float, float],
    values: int,
) -> None:
    assert default_kind(counts, codes) == kind
    assert scale_range(counts, codes) == rng  # 1-5 when no value is a number
    assert len(outcome_values(counts, codes)) == values


@pytest.mark.parametrize(
    ("value", "codes", "missing"),
    [("9", (9,), True), ("9.0", (9,), True), (" n/a ", ("N/A",), True), ("8", (9,), False)],
)
def test_is_missing(value: str, codes: tuple[Any, ...], missing: bool) -> None:
    assert is_missing(value, codes) is missing


@pytest.mark.parametrize(
    ("values", "current", "detected", "shown"),
    [
        (["Yes", "No"], None, Outcome("y", "binary", ("Yes",)), ["Yes"]),
        (["Yes", "No"], None, None, []),
        (["Yes", "No"], ["No"], Outcome("y", "binary", ("Yes",)), ["No"]),  # the analyst's
        (["Yes", "No"], ["DK", "Yes"], None, ["Yes"]),  # a code confirmed missing leaves
        (["1", "0"], None, Outcome("y", "binary", ("Blank",)), []),
    ],
)
def test_positive_values(
    values: list[str], current: list[str] | None, detected: Outcome | None, shown: list[str]
) -> None:
    assert positive_choice(values, current, detected) == shown


@pytest.mark.parametrize(
    ("current", "auto", "seen", "set_to"),
    [
        ({RANGE_LO: None, RANGE_HI: None}, None, (1.0, 5.0), {RANGE_LO: 1.0, RANGE_HI: 5.0}),
        # Following the data: the codes confirmed missing narrowed it.
        (
            {RANGE_LO: 1.0, RANGE_HI: 9.0},
            {RANGE_LO: 1.0, RANGE_HI: 9.0},
            (1.0, 5.0),
            {
                RANGE_LO: 1.0,
                RANGE_HI: 5.0,
            },
        ),
        # Edited by the analyst: kept.
        ({RANGE_LO: 0.0, RANGE_HI: 10.0}, {RANGE_LO: 1.0, RANGE_HI: 9.0}, (1.0, 5.0), {}),
        (
            {RANGE_LO: 0.0, RANGE_HI: 9.0},
            {RANGE_LO: 1.0, RANGE_HI: 9.0},
            (1.0, 5.0),
            {RANGE_HI: 5.0},
        ),
    ],
)
def test_the_range_follows_the_data_until_edited(
    current: dict[str, float | None],
    auto: dict[str, float] | None,
    seen: tuple[float, float],
    set_to: dict[str, float],
) -> None:
    assert range_inputs(current, auto, seen) == set_to


@pytest.mark.parametrize(
    ("rows", "distinct", "warned"), [(100, 95, True), (100, 89, False), (19, 19, False)]
)
def test_an_id_like_outcome(rows: int, distinct: int, warned: bool) -> None:
    det = detection(guess("y", "outcome", distinct=distinct), rows=rows)
    assert looks_like_an_id(det, "y") is warned


def test_user_set_and_own_reasons() -> None:
    base = detection(guess("y", "outcome", reason="named overall"), guess("q1"))
    det = detection(
        guess("y", "outcome", reason="set by you", confidence=1.0),
        guess("q1", reason="set by you", confidence=1.0),
    )
    # A detected outcome left in the picker keeps detection's reason; q1 the analyst set.
    user = user_set_columns({"q1": "touchpoint"}, None, "y", outcome_chosen=False)
    assert user == {"q1"}
    shown = {g.column: g.reason for g in own_reasons(det, base, user).columns}
    assert shown == {"y": "named overall", "q1": "set by you"}
    assert user_set_columns({}, "wt", "y", outcome_chosen=True) == {"wt", "y"}


def test_missing_shown_and_seeded_codes() -> None:
    det = detection(guess("q1"))
    assert missing_shown((9, "N/A"), det) == "9, N/A"
    assert missing_shown((), det) == "none"
    assert missing_shown(None, det) == "none"
    with_spec = replace(det, spec=spec())
    assert missing_shown(None, with_spec) == "9 (detected)"
    proposals = [CodeProposal(9, ("q1",), "9 holds 10%"), CodeProposal(0, ("q1",), "0 ...")]
    ticks, typed = seeded_codes(proposals, {"9", "99", "N/A"})
    assert ticks == {"map_code_9": True, "map_code_0": False} and typed == "99, N/A"


def test_detection_problems_once_each_and_no_flags_without_an_outcome() -> None:
    det = detection(
        guess("q1"),
        problems=("pick the outcome (--outcome)", "pick touchpoints", "pick touchpoints"),
    )
    assert detection_problems(det, [], "") == ["pick touchpoints"]
    assert detection_problems(det, ["pick touchpoints"], "y") == ["pick the outcome (--outcome)"]


# ---- the bulk assignment and the comment columns ---------------------------------------------

COLUMNS = ["Q1[01]", "Q1[02]", "Q10[01]", "Q2", "wt"]


@pytest.mark.parametrize(
    ("chosen", "pattern", "previewed", "assigned", "kind", "text"),
    [
        # A pattern typed and applied at once is shown first, set on the next Apply.
        ([], "Q1[*", None, {}, "info", "Q1[*: 2 columns (Q1[01], Q1[02]). Apply again"),
        ([], "Q1[*", "Q1[*", {"Q1[01]": "ignore", "Q1[02]": "ignore"}, "success", "2 column"),
        (["Q2"], "", None, {"Q2": "ignore"}, "success", "1 column(s) set to ignore."),
        (["Q2"], "Q2", "Q2", {"Q2": "ignore"}, "success", "1 column(s)"),  # not twice
        ([], "", None, {}, "warning", "Choose columns or type a name pattern"),
        ([], "Q9*", "Q9*", {}, "warning", "No column matches 'Q9*'"),
    ],
)
def test_bulk_apply(
    chosen: list[str],
    pattern: str,
    previewed: str | None,
    assigned: dict[str, str],
    kind: str,
    text: str,
) -> None:
    done = bulk_apply(COLUMNS, chosen, pattern, previewed, "ignore")
    assert done.assigned == assigned
    assert done.message[0] == kind and text in done.message[1], done.message


@pytest.mark.parametrize(
    ("pattern", "said"),
    [
        ("", ""),
        ("  ", ""),
        ("Q1[*", "Apply sets Q1\\[\\*\\: 2 columns \\(Q1\\[01\\], Q1\\[02\\]\\)."),
        ("Q9*", "No column matches 'Q9\\*'"),
    ],
)
def test_bulk_preview(pattern: str, said: str) -> None:
    assert bulk_preview(COLUMNS, pattern).startswith(said)


def test_comment_roles() -> None:
    assert comment_roles({"a", "b"}, {"b", "c"}) == {"a": "comment", "c": "ignore"}
    assert comment_roles(set(), set()) == {}


# ---- a stored mapping as choices ----------------------------------------------------------------


def test_a_stored_spec_seeds_every_choice() -> None:
    s = replace(spec(), weight_column="wt", id_column="id", wave_column="region")
    seed = seed_of(s, "long")
    roles = seed.state["roles"]
    assert roles["q3_01"] == "touchpoint" and roles["region"] == "attribute"
    assert roles["why"] == "comment" and roles["id"] == "id" and roles["wt"] == "weight"
    assert seed.widgets["map_outcome"] == "overall" and seed.widgets["map_kind"] == "scale"
    assert (seed.widgets[RANGE_LO], seed.widgets[RANGE_HI]) == (1.0, 5.0)
    assert seed.widgets["map_weight_wt"] is True and seed.widgets["map_seg_col"] == "region"
    assert seed.widgets["map_waves"] == "region" and seed.widgets["map_layout"] == "long"
    assert seed.state["labels"] == {"q3_01": "Parks"} and seed.state["seed_codes"] == {"9"}
    assert seed.state["journey"]["q4"] == {"stage": "After", "order": 3, "tags": ""}
    binary = replace(spec(), outcome=Outcome("overall", "binary", ("Yes",)))
    assert seed_of(binary, None).widgets["map_positive"] == ["Yes"]
    assert "map_layout" not in seed_of(binary, None).widgets


# ---- the tables --------------------------------------------------------------------------------


def test_roles_frame_and_its_edits() -> None:
    det = detection(
        guess("q1", sample="1 (50%), 2 (50%)"),
        guess("q2", counts=(("1", 1), ("2", 3))),
        guess("note", "comment", distinct=812, nulls=3),
    )
    frame = roles_frame(det, {"q2": "Staff"}, {"q2": (("1", 1), ("2", 3))})
    assert frame["values"].tolist() == [
        "1 (50%), 2 (50%)",
        "1 (25%), 2 (75%)",
        "812 distinct values, 3 blank",
    ]
    assert frame.question.tolist() == ["", "Staff", ""]
    edits = {"edited_rows": {"0": {"role": "ignore"}, "1": {"question": None}, "7": {}}}
    assert roles_edits(edits, ["q1", "q2"]) == ({"q1": "ignore"}, {"q2": ""})


def test_scales_per_touchpoint_and_group() -> None:
    s = spec()
    assert sibling_groups(s.touchpoint_columns) == {"q3_01": "q#_#", "q3_02": "q#_#", "q4": "q#"}
    assert group_scale(s.touchpoint_columns, "q#_#", 1, 7) == {"q3_01": (1, 7), "q3_02": (1, 7)}
    rows = [
        {"touchpoint": "q3_01", "from": 1, "to": 10},  # its own scale, 9 an answer there
        {"touchpoint": "q3_02", "from": 1, "to": 5},
        {"touchpoint": "q4", "from": 0, "to": 4},
    ]
    out, kept = scales_from_rows(s, rows)
    assert kept == {"q3_01": (1, 10), "q3_02": (1, 5), "q4": (0, 4)}
    assert set(out.scales) == {"q3_01", "q4"}
    assert out.scales["q3_01"].missing == () and out.scales["q4"].missing == (9,)
    back, _ = scales_from_rows(out, [{"touchpoint": "q3_01", "from": 1, "to": 5}])
    assert "q3_01" not in back.scales  # the survey's scale again: no scale of its own


def test_scale_evidence_says_the_values_of_a_touchpoint_the_analyst_set() -> None:
    det = detection(
        guess("q1", reason="set by you", sample="1 (50%), 5 (50%)"),
        guess("q2", reason="ratings 1-5"),
        proposals=(CodeProposal(6, ("q2",), "stray answer 6: 0.5% of q2"),),
    )
    assert scale_evidence(det, "q1") == "touchpoint set by you; values 1 (50%), 5 (50%)"
    assert scale_evidence(det, "q2") == "ratings 1-5; 6: stray answer 6: 0.5% of q2"


def test_comment_links() -> None:
    s = spec()
    options = link_options(s)
    assert options == ["", "q3_01", "q3_02", "q4", "stage: Before", "stage: After"]
    assert first_link(s, "why", options) == "stage: After"
    assert first_link(replace(s, comment_links={"why": "gone"}), "why", options) == ""
    assert link_name(s, "") == "the whole journey (general)"
    assert link_name(s, "q3_01") == "touchpoint Parks"
    assert link_name(s, "stage: After") == "stage: After"


def test_segment_labels_merges_and_no_answer() -> None:
    counts = [("1", 10), ("2", 5), ("3", 2), ("9", 4)]
    assert pending_labels(counts, {"1": "North"}, {"edited_rows": {"1": {"label": " South "}}}) == {
        "1": "North",
        "2": "South",
    }
    table = segment_labels_table(counts, {"1": "North", "2": "North"})
    assert table.code.tolist() == ["1", "2", "3", "9", OTHER]
    assert table.respondents.tolist() == [10, 5, 2, 4, 6]  # `*` counts the unlabelled
    det = replace(detection(guess("region", "attribute")), spec=spec())
    none, groups = segment_groups(counts, {"1": "North", "2": "North"}, det)
    assert none == ["9"]  # declared missing, beside 1-3: no answer, no segment
    assert groups.to_dict("records")[0] == {"segment": "North", "codes": "1, 2", "respondents": 15}
    labelled, _ = segment_groups(counts, {"9": "Unsure"}, det)
    assert labelled == []


def test_segment_candidates() -> None:
    det = detection(
        guess("region", "attribute", distinct=6),
        guess("age", "attribute", distinct=40),
        guess("yes", "attribute", distinct=2),
    )
    assert segment_candidates(det) == ["region", "yes"]
    assert segment_candidates(replace(det, spec=spec())) == ["region", "yes"]


def test_journey_rows_keep_edits() -> None:
    s = spec()
    before = journey_rows(s, {})
    assert before.stage.tolist() == ["Before", "Before", "After"]
    kept = {"q4": {"stage": "Before", "order": 0}}
    after = journey_rows(s, kept)
    assert after.set_index("touchpoint").loc["q4", "order"] == 0
    edited = before.copy()
    edited.loc[2, "label"] = "Bill"
    assert journey_edits(before, edited) == {"q4": {"label": "Bill"}}


def test_wave_choices_propose_and_never_apply() -> None:
    det = detection(
        guess("region", "attribute", counts=(("1", 3), ("2", 3))),
        guess("wave", "attribute", counts=(("2021", 3), ("2022", 3))),
    )
    s = replace(spec(), attributes=("region", "wave"), segments=("region",))
    proposed, options = wave_choices(s, det)
    assert [c for c, _ in proposed] == ["wave"]
    assert options == ["", "wave", "region"]


# ---- on a real detection ----------------------------------------------------------------------


def test_rules_on_a_real_detection() -> None:
    lines = ["id,q1,q2,q3,overall,region,wt"]
    for i in range(100):
        lines.append(f"{i},{1 + i % 5},{1 + (i * 3) % 5},{9 if i % 7 == 0 else 1 + i % 4},")
        lines[-1] += f"{'Yes' if i % 3 else 'No'},{1 + i % 3},{0.5 + (i % 4) / 4}"
    data = ("\n".join(lines) + "\n").encode()
    det = detect_roles(data, IngestOptions(), "s.csv")
    counted = counts_of(det, "overall")
    assert counted == (("No", 34), ("Yes", 66))
    assert counts_of(det, "id") is None  # many values: counted alone
    chosen = Choices(outcome="overall", outcome_kind="binary")
    assert chosen.options().outcome == "overall"
    picked = detect_roles(data, chosen.options(), "s.csv")
    assert picked.spec is not None
    assert positive_choice(outcome_values(counted, ()), None, picked.spec.outcome) == ["Yes"]
    assert not looks_like_an_id(det, "overall") and looks_like_an_id(det, "id")


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("short", "short"),
        ("Overall quality of the services provided by the City - Parks and recreation", None),
    ],
)
def test_short_label(text: str, cut: str | None) -> None:
    out = short_label(text)
    assert out == cut if cut else (len(out) <= 61 and out.endswith("Parks and recreation"))


def test_the_check_before_save_reuses_the_pages_detection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One detection per change: `validate(..., detection=)` with a spec gives the report a
    fresh detection gives, without detecting again; a detection of another read is not
    reused."""
    import cmot.ingest.pipeline

    rows = ["id,q1,q2,q3,overall"]
    rows += [
        f"{i},{1 + i % 5},{1 + (i * 3) % 5},{9 if i % 7 == 0 else 1 + i % 4},{1 + i % 5}"
        for i in range(80)
    ]
    rows += [f"{80 + i},1,1,1," for i in range(12)]  # no outcome: dropped, over a tenth
    data = ("\n".join(rows) + "\n").encode()
    chosen = Choices(outcome="overall", missing=(9,))
    det = detect_roles(data, chosen.options(), "s.csv")
    assert det.spec is not None
    options = chosen.options(det.spec)
    fresh = validate(data, options, "s.csv")
    detections: list[object] = []
    real = cmot.ingest.pipeline.detect

    def counting(*args: Any, **kw: Any) -> Detection:
        detections.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(cmot.ingest.pipeline, "detect", counting)
    reused = validate(data, options, "s.csv", detection=det)
    assert reused == fresh and detections == []
    dropped, kept = save_notes(reused)
    assert "12" in dropped and kept == ""
    other = replace(det, columns=det.columns[:-1])  # not this read's columns: detected again
    assert validate(data, options, "s.csv", detection=other) == fresh and len(detections) == 1
