"""The numpy passes' sums as joint histograms of touchpoint groups instead of matrix
products over the respondents.

A respondent's design row is a function of its touchpoints' states (a rating or missing), so
every sum of two design columns' product is a sum over the joint histogram of two
touchpoints' states. Touchpoints are packed into groups of at most GROUP_CELLS joint states
(`Groups`, `make_groups`, `GroupCodes`: each respondent's state in each group, read off
256-entry tables of the int8 ratings); one bincount per pair of groups then counts what a
matrix product over the rows would sum, and the few products of the small histograms with
the groups' feature tables (`quadratic`) give the sums back. At 14 touchpoints rated 1-5
that is 21 bincounts a respondent where the products cost ~2,800 multiply-adds: the first
pass ~4x and the HC3 pass ~3x cheaper (issue 27).

- The first pass (`pass1_part`): each group's states are (rating or missing), the features
  the block matrix Z's (cmot.engine.design); the counts are integers and the outcome whole,
  so the sums are the same integers as the matrix products' (byte-equal results). Chosen
  when it costs less than the products (`histograms_pay`).
- The HC3 pass (`hc3_lookup_meat`, from HC3_LOOKUP_MIN_ROWS in cmot.engine.blocks):
  each group's states are its touchpoints' design classes (none, low, high, missing); a
  respondent's leverage and residual are sums of a few lookups in tables made from the fit
  (`Hc3Tables`, `hc3_tables`), the meat's weighted histograms one bincount per pair.

The loops over the rows (the groups' states, the counts, the HC3 weights) are compiled
(cmot.engine.kernels): numpy's bincount holds the interpreter lock, so the pool's threads
had taken turns; the kernels run side by side, to the same sums bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cmot.engine import kernels
from cmot.engine.design import MISSING, Cuts, Layout
from cmot.engine.fits import Fit

# A group's joint states: a pair of groups' histogram has GROUP_CELLS² cells, 32 KB of
# float64 at 64, which stays in the core's L1 cache while a bincount fills it.
GROUP_CELLS = 64
# Whole outcomes up to this size keep every sum (of y³ at most) an exact integer in float64
# for up to 2**53 / 255**3 ~ 5e8 respondents, as the matrix products' sums are.
WHOLE_Y_MAX = 255.0
# The first pass counts (pair state, outcome) jointly for outcomes of at most this many
# whole values: 36 x 36 x 16 counts stay in the core's L2 cache.
Y_BINS = 16


@dataclass(frozen=True)
class Groups:
    """Touchpoints packed into groups of at most GROUP_CELLS joint states, journey order.

    A group's joint state is its members' states in mixed radix, the first member most
    significant. With a single group a constant one (no member, one state) is added, so
    every sum is a pair's. Each group's own sums are folded into one pair (`owner`)."""

    members: tuple[tuple[int, ...], ...]
    sizes: tuple[int, ...]  # every touchpoint's number of states
    cells: tuple[int, ...]  # every group's number of joint states
    pairs: tuple[tuple[int, int], ...]  # every pair g < h of groups
    owner: tuple[int, ...]  # per group, the index in `pairs` of the pair holding its own sums

    def member_states(self, g: int) -> np.ndarray:
        """(cells, members): each member's state in each of group g's joint states."""
        k = np.arange(self.cells[g])
        out = np.zeros((self.cells[g], len(self.members[g])), dtype=np.intp)
        div = 1
        for j in range(len(self.members[g]) - 1, -1, -1):
            size = self.sizes[self.members[g][j]]
            out[:, j] = (k // div) % size
            div *= size
        return out

    def marginal(self, hists: Sequence[np.ndarray], g: int) -> np.ndarray:
        """Group g's histogram, summed out of its owner pair's joint one."""
        a, b = self.pairs[self.owner[g]]
        h = hists[self.owner[g]].reshape(self.cells[a], self.cells[b])
        return h.sum(axis=1) if g == a else h.sum(axis=0)

    def covering(self) -> list[int]:
        """The pairs that hold some group's own sums: enough lookups for a sum over groups."""
        return sorted(set(self.owner))


def make_groups(sizes: Sequence[int], cap: int = GROUP_CELLS) -> Groups:
    """Consecutive touchpoints packed while their joint states stay within `cap`."""
    members: list[tuple[int, ...]] = []
    cells: list[int] = []
    cur: list[int] = []
    prod = 1
    for i, s in enumerate(sizes):
        if cur and prod * s > cap:
            members.append(tuple(cur))
            cells.append(prod)
            cur, prod = [], 1
        cur.append(i)
        prod *= s
    members.append(tuple(cur))
    cells.append(prod)
    if len(members) == 1:
        members.append(())
        cells.append(1)
    n = len(members)
    pairs = tuple((a, b) for a in range(n) for b in range(a + 1, n))
    index = {p: i for i, p in enumerate(pairs)}
    # Neighbours share a pair ((0, 1), (2, 3), ...; the last of an odd count joins its left):
    # ceil(n / 2) lookups sum a function of every group's state.
    owner = tuple(
        index[(g, g + 1)] if g % 2 == 0 and g + 1 < n else index[(g - 1, g)] for g in range(n)
    )
    return Groups(tuple(members), tuple(sizes), tuple(cells), pairs, owner)


@dataclass(frozen=True)
class GroupCodes:
    """How a block's int8 ratings become each group's joint state: per touchpoint a
    256-entry table (indexed by the rating's byte) of its state times its radix in its group,
    and the pairs' indices as arrays (the compiled loops of cmot.engine.kernels read them)."""

    groups: Groups
    table: np.ndarray  # (T, 256) uint8
    group_of: np.ndarray  # (T,) every touchpoint's group
    pair_a: np.ndarray  # (pairs,) each pair's first group
    pair_b: np.ndarray  # (pairs,) and second
    cells_b: np.ndarray  # (pairs,) the second group's joint states

    def codes(self, r: np.ndarray) -> np.ndarray:
        """(T, m) int8 ratings -> (groups, m) uint8: every group's joint state."""
        return kernels.group_codes(
            r.view(np.uint8), self.table, self.group_of, len(self.groups.cells)
        )


def group_codes(state_of: np.ndarray, cap: int = GROUP_CELLS) -> GroupCodes:
    """Groups and code tables from `state_of`, (T, 256): each touchpoint's state for each
    rating byte (-1 where a rating cannot occur); a touchpoint has max(state) + 1 states."""
    sizes = [int(row.max()) + 1 for row in state_of]
    groups = make_groups(sizes, cap)
    table = np.zeros((len(sizes), 256), dtype=np.uint8)
    group_of = np.zeros(len(sizes), dtype=np.intp)
    for g, members in enumerate(groups.members):
        div = 1
        for i in reversed(members):
            table[i] = np.maximum(state_of[i], 0) * div
            group_of[i] = g
            div *= groups.sizes[i]
        assert div == groups.cells[g]
    pair_a, pair_b = (np.array([p[j] for p in groups.pairs], dtype=np.intp) for j in (0, 1))
    cells_b = np.array([groups.cells[b] for _, b in groups.pairs], dtype=np.intp)
    return GroupCodes(groups, table, group_of, pair_a, pair_b, cells_b)


def pair_counts(gc: GroupCodes, codes: np.ndarray) -> np.ndarray:
    """Every pair's joint-state counts (np.bincount's) from the groups' `codes`: (pairs,
    widest pair's cells), each row padded with zeros past its pair's cells."""
    groups = gc.groups
    out = np.zeros((len(groups.pairs), max(gc.groups.cells) ** 2), dtype=np.int64)
    kernels.pair_counts(codes, gc.pair_a, gc.pair_b, gc.cells_b, out)
    return out


def _bytes() -> np.ndarray:
    """The 256 rating bytes as the int8 ratings they stand for (index = byte)."""
    return np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int64)


def rating_states(cuts: Cuts) -> np.ndarray:
    """(T, 256): a rating's state, rating - scale min, missing the last (the first pass's)."""
    v = _bytes()[None, :]
    width = cuts.hi - cuts.lo + 1
    return np.where(v == MISSING, width, np.where((v >= cuts.lo) & (v <= cuts.hi), v - cuts.lo, -1))


def class_states(cuts: Cuts) -> np.ndarray:
    """(T, 256): a rating's design class, 0 none (middle), 1 low, 2 high, 3 missing (HC3)."""
    v = _bytes()[None, :]
    return np.where(v == MISSING, 3, np.where(v <= cuts.low, 1, np.where(v >= cuts.high, 2, 0)))


def quadratic(
    groups: Groups,
    tables: Sequence[np.ndarray],
    cols: Sequence[np.ndarray],
    hists: Sequence[np.ndarray],
    total: float,
    icpt: int,
    size: int,
) -> np.ndarray:
    """Σ z z' over the rows, z = e_icpt + Σ_g (group g's feature row for its state, at its
    columns `cols[g]`), from each pair's (weighted) joint histogram `hists` and Σ weight
    `total`: (size, size). Each group's marginal is read off its owner pair's histogram.
    Integer histograms and tables give exact integers (every partial sum below 2**53)."""
    m = np.zeros((size, size))
    m[icpt, icpt] = total
    for g, (tab, cg) in enumerate(zip(tables, cols, strict=True)):
        if not len(cg):
            continue
        marg = groups.marginal(hists, g)
        lin = marg @ tab
        m[icpt, cg] += lin
        m[cg, icpt] += lin
        m[np.ix_(cg, cg)] += tab.T @ (marg[:, None] * tab)
    for p, (a, b) in enumerate(groups.pairs):
        if not len(cols[a]) or not len(cols[b]):
            continue
        c = tables[a].T @ hists[p].reshape(groups.cells[a], groups.cells[b]) @ tables[b]
        m[np.ix_(cols[a], cols[b])] += c
        m[np.ix_(cols[b], cols[a])] += c.T
    return m


# ---- the first pass ----------------------------------------------------------------


@dataclass(frozen=True)
class Pass1Plan:
    """The first pass by histograms: the rating states' codes and each group's rows of the
    block matrix Z (cmot.engine.design: low, high, missing, score, score²) per joint state."""

    codes: GroupCodes
    tables: tuple[np.ndarray, ...]  # per group: (cells, 5 x members)
    cols: tuple[np.ndarray, ...]  # per group: the tables' rows of Z
    t: int
    points: int


def pass1_plan(cuts: Cuts) -> Pass1Plan | None:
    """The plan for these scales, or None when the matrix products cost less (wide scales:
    groups of one touchpoint make a bincount per pair of touchpoints)."""
    plan = make_pass1_plan(cuts)
    return plan if histograms_pay(plan.codes.groups, plan.t) else None


def make_pass1_plan(cuts: Cuts) -> Pass1Plan:
    """The first pass's groups and feature tables for these scales."""
    t = cuts.lo.shape[0]
    codes = group_codes(rating_states(cuts))
    tables, cols = [], []
    for g, members in enumerate(codes.groups.members):
        st = codes.groups.member_states(g)
        tab = np.zeros((codes.groups.cells[g], 5 * len(members)))
        col: list[int] = []
        for j, i in enumerate(members):
            lo, hi, low, high = cuts.of(i)
            rated = st[:, j] <= hi - lo
            v = np.where(rated, lo + st[:, j], 0)
            tab[:, 5 * j : 5 * j + 5] = np.stack(
                [rated & (v <= low), rated & (v >= high), ~rated, v, v * v], axis=1
            )
            col += [i, t + i, 2 * t + 1 + i, 3 * t + 2 + i, 4 * t + 2 + i]
        tables.append(tab)
        cols.append(np.array(col, dtype=np.intp))
    return Pass1Plan(codes, tuple(tables), tuple(cols), t, cuts.points)


def histograms_pay(groups: Groups, t: int) -> bool:
    """Histograms when they cost less than the matrix products: ~1.8 ns a respondent per
    pair of groups (an index and a bincount) and ~3 ns per group (its code, the outcome's
    sums) against ~1/36 ns per multiply-add of the products (float32 BLAS on one core) and
    ~4 ns per touchpoint to build the design (measured on the bench's machine)."""
    hist = 1.8 * len(groups.pairs) + 3.0 * len(groups.members)
    products = ((3 * t + 2) ** 2 + (2 * t + 1) * (2 * t + 2)) / 36 + 4.0 * t
    return hist < products


def whole_outcome(y: np.ndarray) -> bool:
    """Whole outcomes within ±WHOLE_Y_MAX: every sum is an exact integer either way."""
    return bool(np.abs(y).max(initial=0.0) <= WHOLE_Y_MAX) and bool(np.array_equal(y, np.round(y)))


@dataclass
class Hists:
    """Additive sums of slices, converted once at the end (`pass1_sums`, `hc3_meat_of`; each
    slice's conversion was ~15 ns a respondent): the pairs' histograms, per group state
    histograms of the outcome (first pass: Σy, then Σy², per group) and totals (first pass:
    n, Σy, Σy², Σy³; HC3: Σ weight)."""

    pairs: list[np.ndarray]
    by_group: list[np.ndarray]
    totals: np.ndarray
    # The rows `pairs` are views of, when they are one array's: one addition adds them all
    # (a slice's ten to twenty-one additions were the main thread's, holding the lock).
    pairs_of: np.ndarray | None = None

    def add(self, other: Hists) -> None:
        if self.pairs_of is not None and other.pairs_of is not None:
            self.pairs_of += other.pairs_of
        else:
            for mine, theirs in zip(self.pairs, other.pairs, strict=True):
                mine += theirs
        for mine, theirs in zip(self.by_group, other.by_group, strict=True):
            mine += theirs
        self.totals += other.totals


def _pair_views(groups: Groups, rows: np.ndarray) -> list[np.ndarray]:
    """Each pair's histogram: its row of `rows`, cut to the pair's cells."""
    return [rows[p, : groups.cells[a] * groups.cells[b]] for p, (a, b) in enumerate(groups.pairs)]


def pass1_hists(plan: Pass1Plan, r: np.ndarray, y: np.ndarray) -> Hists:
    """One segment slice's histograms (unweighted, whole outcome). With few outcome values
    (`Y_BINS`) each group's states are counted jointly with the outcome, its sums read off
    them: no weighted bincount per group (~20 ns a respondent of ~100, issue 27); the same
    integers either way."""
    groups = plan.codes.groups
    codes = plan.codes.codes(r)
    cells = groups.cells
    lo = float(y.min(initial=0.0))
    bins = int(y.max(initial=0.0) - lo) + 1
    if bins > Y_BINS:
        return _pass1_weighted(plan, codes, y)
    by_y = np.empty(r.shape[1], dtype=np.intp)
    np.subtract(y, lo, out=by_y, casting="unsafe")  # whole: exact
    pairs = pair_counts(plan.codes, codes)
    by_state = np.zeros((len(cells), max(cells) * bins), dtype=np.int64)
    kernels.state_outcome_counts(codes, by_y, bins, by_state)
    value = lo + np.arange(bins, dtype=np.float64)
    # (groups, cells, bins) counts times the values: each group state's Σy and Σy².
    per = by_state.reshape(len(cells), max(cells), bins)
    sy, sy2 = per @ value, per @ (value * value)
    counts_y = per[0].sum(axis=0)
    totals = np.array(
        [r.shape[1], counts_y @ value, counts_y @ value**2, counts_y @ value**3], dtype=np.float64
    )
    hy = [sy[g, : cells[g]] for g in range(len(cells))]
    hy2 = [sy2[g, : cells[g]] for g in range(len(cells))]
    return Hists(_pair_views(groups, pairs), hy + hy2, totals, pairs)


def _pass1_weighted(plan: Pass1Plan, codes: np.ndarray, y: np.ndarray) -> Hists:
    """pass1_hists with the outcome's sums as weighted bincounts per group."""
    cells = plan.codes.groups.cells
    pairs = pair_counts(plan.codes, codes)
    buf = np.empty(len(y), dtype=np.intp)
    y2 = y * y
    hy, hy2 = [], []
    for g in range(len(cells)):
        np.copyto(buf, codes[g])  # intp: bincount reads it without a copy
        hy.append(np.bincount(buf, y, cells[g]))
        hy2.append(np.bincount(buf, y2, cells[g]))
    totals = np.array([len(y), y.sum(), y2.sum(), (y2 * y).sum()])
    return Hists(_pair_views(plan.codes.groups, pairs), hy + hy2, totals, pairs)


def pass1_sums(plan: Pass1Plan, h: Hists) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Respondents, gram, pair sums and levels from the first pass's histograms: the same
    integers as cmot.engine.blocks' matrix products over Z."""
    t, groups = plan.t, plan.codes.groups
    hy, hy2 = h.by_group[: len(groups.cells)], h.by_group[len(groups.cells) :]
    n, sy, sy2, sy3 = (float(v) for v in h.totals)
    size, icpt, yrow, y2row = 5 * t + 3, 2 * t, 3 * t + 1, 5 * t + 2
    zz = quadratic(groups, plan.tables, plan.cols, h.pairs, n, icpt, size)
    ay, ay2 = np.zeros(size), np.zeros(size)
    for tab, col, by_y, by_y2 in zip(plan.tables, plan.cols, hy, hy2, strict=True):
        ay[col] += by_y @ tab
        ay2[col] += by_y2 @ tab
    ay[[icpt, yrow, y2row]] = sy, sy2, sy3
    ay2[[icpt, yrow]] = sy2, sy3  # Σy⁴ (y² x y²) is no sum the engine keeps
    zz[yrow], zz[:, yrow] = ay, ay
    zz[y2row], zz[:, y2row] = ay2, ay2
    levels = np.zeros((t, plan.points + 1, 3))
    for g, members in enumerate(groups.members):
        if not members:
            continue
        marg = groups.marginal(h.pairs, g)
        st = groups.member_states(g)
        for j, i in enumerate(members):
            width = groups.sizes[i] - 1
            count = np.bincount(st[:, j], marg, width + 1)
            slot = np.r_[np.arange(width), plan.points]  # missing in the last slot
            levels[i, slot, 0] = count
            levels[i, slot, 1] = count
            levels[i, slot, 2] = np.bincount(st[:, j], hy[g], width + 1)
    gram = zz[: 3 * t + 2, : 3 * t + 2].copy()
    return round(n), gram, zz[3 * t + 2 :, 2 * t : 4 * t + 2].copy(), levels


def pass1_part(plan: Pass1Plan, r: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """One segment slice's gram, pair sums and levels (unweighted, whole outcome)."""
    return pass1_sums(plan, pass1_hists(plan, r, y))[1:]


# ---- the HC3 pass ------------------------------------------------------------------


@dataclass(frozen=True)
class Hc3Plan:
    """The HC3 pass by lookups: the design classes' codes and each group's design rows
    (low, high, missing of its members) per joint state, at their design columns."""

    codes: GroupCodes
    tables: tuple[np.ndarray, ...]  # per group: (cells, 3 x members)
    cols: tuple[np.ndarray, ...]
    lay: Layout


def hc3_plan(cuts: Cuts) -> Hc3Plan:
    lay = Layout(cuts.lo.shape[0])
    codes = group_codes(class_states(cuts))
    tables, cols = [], []
    for g, members in enumerate(codes.groups.members):
        st = codes.groups.member_states(g)
        tab = np.zeros((codes.groups.cells[g], 3 * len(members)))
        col: list[int] = []
        for j, i in enumerate(members):
            tab[:, 3 * j : 3 * j + 3] = st[:, j : j + 1] == np.array([[1, 2, 3]])
            col += [lay.low(i), lay.high(i), lay.miss(i)]
        tables.append(tab)
        cols.append(np.array(col, dtype=np.intp))
    return Hc3Plan(codes, tuple(tables), tuple(cols), lay)


@dataclass(frozen=True)
class Hc3Tables:
    """Fits as lookups, one row per fit (`stacked`): per pair of groups the part of
    x'(X'WX)^-1 x its joint state adds (`leverage`), per covering pair the part of x'beta
    (`fitted`, `has_fitted`; zeros elsewhere). Pairs' tables are padded to the widest."""

    leverage: np.ndarray  # (fits, pairs, cells)
    fitted: np.ndarray  # (fits, pairs, cells)
    has_fitted: np.ndarray  # (fits, pairs) bool

    @property
    def fits(self) -> int:
        return self.leverage.shape[0]


def hc3_tables(plan: Hc3Plan, fit: Fit) -> Hc3Tables:
    """x'Bx = B_cc + Σ_g (2 x_g'B_gc + x_g'B_gg x_g) + Σ_{g<h} 2 x_g'B_gh x_h: the pairs' terms
    as tables, each group's own in its owner pair's, the constant in the first group's."""
    groups, icpt = plan.codes.groups, plan.lay.icpt
    bread, beta = fit.bread, np.nan_to_num(fit.beta)
    tabs, cols, cells = plan.tables, plan.cols, groups.cells
    lev = [2 * tabs[a] @ bread[np.ix_(cols[a], cols[b])] @ tabs[b].T for a, b in groups.pairs]
    fitted = [np.zeros((cells[a], cells[b])) for a, b in groups.pairs]
    for g, (tab, cg) in enumerate(zip(tabs, cols, strict=True)):
        own = np.einsum("ka,ab,kb->k", tab, bread[np.ix_(cg, cg)], tab) + 2 * tab @ bread[cg, icpt]
        p = groups.owner[g]
        along = (slice(None), None) if g == groups.pairs[p][0] else (None, slice(None))
        lev[p] += own[along]
        fitted[p] += (tab @ beta[cg])[along]
    lev[groups.owner[0]] += bread[icpt, icpt]
    fitted[groups.owner[0]] += beta[icpt]
    width = max(x.size for x in lev)
    out = Hc3Tables(
        np.zeros((1, len(lev), width)),
        np.zeros((1, len(lev), width)),
        np.zeros((1, len(lev)), dtype=np.bool_),
    )
    covering = groups.covering()
    for p, (x, f) in enumerate(zip(lev, fitted, strict=True)):
        out.leverage[0, p, : x.size] = x.ravel()
        if p in covering:
            out.fitted[0, p, : f.size] = f.ravel()
            out.has_fitted[0, p] = True
    return out


def stacked(tables: Sequence[Hc3Tables]) -> Hc3Tables:
    """Several fits' tables as one, in order: a pass looks them all up at once."""
    if len(tables) == 1:
        return tables[0]
    return Hc3Tables(
        *(np.concatenate([getattr(t, f) for t in tables]) for f in Hc3Tables.__dataclass_fields__)
    )


def hc3_lookup_meat(
    plan: Hc3Plan, r: np.ndarray, y: np.ndarray, w: np.ndarray | None, fits: Sequence[Hc3Tables]
) -> list[np.ndarray]:
    """Σ w²e²/(1-h)² x x' over one slice under each fit (cmot.engine.blocks.hc3_meat's sums)."""
    return [hc3_meat_of(plan, h) for h in hc3_lookup_hists(plan, r, y, w, fits)]


def hc3_meat_of(plan: Hc3Plan, h: Hists) -> np.ndarray:
    """The meat from a fit's weighted histograms (`hc3_lookup_hists`, added over slices)."""
    lay = plan.lay
    return quadratic(
        plan.codes.groups, plan.tables, plan.cols, h.pairs, float(h.totals[0]), lay.icpt, lay.k
    )


def hc3_lookup_hists(
    plan: Hc3Plan, r: np.ndarray, y: np.ndarray, w: np.ndarray | None, fits: Sequence[Hc3Tables]
) -> list[Hists]:
    """Each fit's HC3 weights w²e²/(1-h)² over one slice as each pair's weighted histogram:
    e and h by lookups in the fit's tables (cmot.engine.kernels.hc3_weights; stack the
    tables once with `stacked` where a pass looks the same fits up slice after slice)."""
    groups, gc = plan.codes.groups, plan.codes
    tab = stacked(fits)
    codes = gc.codes(r)
    q = np.empty((tab.fits, r.shape[1]))
    out = np.zeros(tab.leverage.shape)
    kernels.hc3_weights(
        codes, y, y if w is None else w, w is not None, gc.pair_a, gc.pair_b, gc.cells_b,
        tab.leverage, tab.fitted, tab.has_fitted, q, out,
    )  # fmt: skip
    return [
        Hists(_pair_views(groups, out[f]), [], np.array([q[f].sum()]), out[f])
        for f in range(tab.fits)
    ]
