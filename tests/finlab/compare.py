#!/usr/bin/env python3
"""Compare two wide position panels (date column + one column per stock).

    compare.py A.feather B.feather [--tol 1e-9] [--atol 0] [--show 10] [--ignore-column-order]

Equal when: same dates (in order), same columns (same order unless --ignore-column-order), and
every cell equal: NaN == NaN; otherwise |a - b| <= max(atol, tol * max(|a|, |b|)).  Booleans are
stored as 0/1 so they compare exactly.  Prints a compact report; exit 0 equal, 1 different,
2 usage / read errors.

Only needs numpy + pyarrow (pandas not required).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather


def load(path):
    t = feather.read_table(path)
    if "date" not in t.column_names:
        raise ValueError(f"{path}: no `date` column")
    dates = t.column("date").cast(pa.timestamp("ns")).to_numpy().astype("datetime64[ns]")
    cols = [c for c in t.column_names if c != "date"]
    if cols:
        vals = np.column_stack(
            [t.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in cols]
        )
    else:
        vals = np.empty((len(dates), 0))
    return dates, cols, vals.astype("float64")


def fmt_date(d):
    return str(np.datetime_as_string(d, unit="D"))


def fmt_list(xs, n):
    xs = list(xs)
    s = ", ".join(str(x) for x in xs[:n])
    return s + (f", … (+{len(xs) - n})" if len(xs) > n else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tol", type=float, default=1e-9, help="relative tolerance (default 1e-9)")
    ap.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    ap.add_argument("--show", type=int, default=10, help="how many differences to list")
    ap.add_argument("--ignore-column-order", action="store_true")
    ap.add_argument("--label-a", default="A")
    ap.add_argument("--label-b", default="B")
    a = ap.parse_args(argv)
    la, lb = a.label_a, a.label_b
    try:
        da, ca, va = load(a.a)
        db, cb, vb = load(a.b)
    except Exception as e:  # noqa: BLE001
        print(f"compare: {e}", file=sys.stderr)
        return 2

    problems = []
    print(f"{la}: {a.a}  {va.shape[0]} dates × {va.shape[1]} stocks")
    print(f"{lb}: {a.b}  {vb.shape[0]} dates × {vb.shape[1]} stocks")

    # Dates.
    sa, sb = set(da.tolist()), set(db.tolist())
    only_a = sorted(sa - sb)
    only_b = sorted(sb - sa)
    if only_a or only_b:
        problems.append("dates")
        if only_a:
            print(f"dates only in {la} ({len(only_a)}): " + fmt_list([fmt_date(np.datetime64(x, 'ns')) for x in only_a], a.show))
        if only_b:
            print(f"dates only in {lb} ({len(only_b)}): " + fmt_list([fmt_date(np.datetime64(x, 'ns')) for x in only_b], a.show))
    common_dates = [d for d in da.tolist() if d in sb]
    if [d for d in db.tolist() if d in sa] != common_dates:
        problems.append("date order")
        print("common dates are in a different order")
    if len(set(da.tolist())) != len(da) or len(set(db.tolist())) != len(db):
        problems.append("duplicate dates")
        print("duplicate dates present")

    # Columns.
    sca, scb = set(ca), set(cb)
    miss = [c for c in ca if c not in scb]
    extra = [c for c in cb if c not in sca]
    if miss or extra:
        problems.append("columns")
        if miss:
            print(f"columns only in {la} ({len(miss)}): " + fmt_list(miss, a.show))
        if extra:
            print(f"columns only in {lb} ({len(extra)}): " + fmt_list(extra, a.show))
    common_cols = [c for c in ca if c in scb]
    if not a.ignore_column_order and [c for c in cb if c in sca] != common_cols:
        problems.append("column order")
        print("common columns are in a different order (use --ignore-column-order to allow)")

    # Values on the common grid.
    ia = {d: i for i, d in enumerate(da.tolist())}
    ib = {d: i for i, d in enumerate(db.tolist())}
    ra = [ia[d] for d in common_dates]
    rb = [ib[d] for d in common_dates]
    ja = {c: i for i, c in enumerate(ca)}
    jb = {c: i for i, c in enumerate(cb)}
    xa = va[np.ix_(ra, [ja[c] for c in common_cols])]
    xb = vb[np.ix_(rb, [jb[c] for c in common_cols])]
    nan_a, nan_b = np.isnan(xa), np.isnan(xb)
    with np.errstate(invalid="ignore"):
        scale = np.maximum(np.abs(xa), np.abs(xb))
        close = (xa == xb) | (np.abs(xa - xb) <= np.maximum(a.atol, a.tol * scale))
    same = np.where(nan_a | nan_b, nan_a & nan_b, close)
    bad = ~same
    nbad = int(bad.sum())
    if nbad:
        problems.append("values")
        rows, cols = np.nonzero(bad)
        bad_rows = np.unique(rows)
        print(
            f"values differ in {nbad} of {bad.size} common cells, on {len(bad_rows)} of "
            f"{len(common_dates)} dates and {len(np.unique(cols))} of {len(common_cols)} stocks"
        )
        print(
            f"  NaN in {la} only: {int((nan_a & ~nan_b).sum())}; NaN in {lb} only: "
            f"{int((nan_b & ~nan_a).sum())}; both numbers but different: "
            f"{int((bad & ~nan_a & ~nan_b).sum())}"
        )
        first_day = common_dates[bad_rows[0]]
        print(f"  first differing date: {fmt_date(np.datetime64(first_day, 'ns'))}; "
              f"last: {fmt_date(np.datetime64(common_dates[bad_rows[-1]], 'ns'))}")
        per_date = np.bincount(rows, minlength=len(common_dates))
        print(f"  {'date':10}  {'stock':>8}  {la:>14}  {lb:>14}")
        shown = 0
        for r, c in zip(rows, cols):
            if shown >= a.show:
                break
            print(f"  {fmt_date(np.datetime64(common_dates[r], 'ns')):10}  {common_cols[c]:>8}  "
                  f"{xa[r, c]:>14.10g}  {xb[r, c]:>14.10g}"
                  + (f"   ({per_date[r]} cells on this date)" if shown == 0 or rows[shown - 1] != r else ""))
            shown += 1
        # Row totals on the first differing dates help spot selection (is_largest) differences.
        for r in bad_rows[:3]:
            sel_a = {common_cols[j] for j in np.nonzero(np.nan_to_num(xa[r]) != 0)[0]}
            sel_b = {common_cols[j] for j in np.nonzero(np.nan_to_num(xb[r]) != 0)[0]}
            if sel_a != sel_b:
                print(f"  {fmt_date(np.datetime64(common_dates[r], 'ns'))}: non-zero in {la} only: "
                      f"{fmt_list(sorted(sel_a - sel_b), 8)}; in {lb} only: {fmt_list(sorted(sel_b - sel_a), 8)}")

    if problems:
        print("DIFFERENT: " + ", ".join(problems))
        return 1
    print(f"EQUAL: {len(common_dates)} dates × {len(common_cols)} stocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
