#!/usr/bin/env python3
"""Run many exported strategies with finlab in one process and compare each position with
dsl-engine's.

    roundtrip_many.py DATA_DIR LIST

LIST has one line per strategy: `NAME<TAB>EXPORTED.py<TAB>OURS.feather<TAB>THEIRS.feather`.
Each strategy runs as run_strategy.py runs it (finlab's data.get reads DATA_DIR, sim() is
captured, never called); its position is written to THEIRS and compared with OURS cell for cell
(NaN == NaN, |a - b| <= 1e-9 relative). One JSON line per strategy on stdout:

    {"name": ..., "status": "equal" | "tie" | "differ" | "error", "detail": ...}

`tie`: the panels differ only on rows where both hold the same weights on as many stocks (only
which stocks carry them differs), the mark of a tie among equally ranked stocks that finlab breaks with numpy's unstable sort (not
reproducible, not even by finlab on another CPU); the rows are listed. Exit 0 unless the
arguments are wrong.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare  # noqa: E402
import run_strategy  # noqa: E402


def judge(theirs: Path, ours: Path) -> tuple[str, str]:
    d_a, c_a, v_a = compare.load(str(theirs))
    d_b, c_b, v_b = compare.load(str(ours))
    if len(d_a) != len(d_b) or (d_a != d_b).any():
        return "differ", f"dates differ ({len(d_a)} vs {len(d_b)} rows)"
    if c_a != c_b:
        only = sorted(set(c_a) ^ set(c_b))[:5]
        return "differ", f"columns differ (e.g. {only})"
    both_nan = np.isnan(v_a) & np.isnan(v_b)
    close = np.abs(v_a - v_b) <= 1e-9 * np.maximum(np.abs(v_a), np.abs(v_b))
    bad = ~(both_nan | close)
    if not bad.any():
        return "equal", ""
    rows = np.nonzero(bad.any(axis=1))[0]

    def permuted(r):
        """The row's selected values are the same multiset on both sides: only which stocks
        carry them differs."""
        a = np.sort(v_a[r][np.nan_to_num(v_a[r]) != 0])
        b = np.sort(v_b[r][np.nan_to_num(v_b[r]) != 0])
        return len(a) == len(b) and np.allclose(a, b, rtol=1e-9, atol=0)

    if all(permuted(r) for r in rows):
        days = ", ".join(compare.fmt_date(d_a[r]) for r in rows[:5])
        return "tie", f"{len(rows)} row(s) hold the same weights on other stocks, e.g. {days}"
    r = rows[0]
    cols = np.nonzero(bad[r])[0][:5]
    cells = "; ".join(f"{c_a[c]}: finlab {v_a[r, c]!r} vs dsl-engine {v_b[r, c]!r}" for c in cols)
    return "differ", f"{int(bad.sum())} cell(s) on {len(rows)} row(s); first {compare.fmt_date(d_a[r])}: {cells}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    data_dir, listing = argv
    for line in Path(listing).read_text().splitlines():
        name, script, ours, theirs = line.split("\t")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = run_strategy.main([data_dir, script, theirs])
        if code != 0:
            result = ("error", f"finlab run failed ({code}): {err.getvalue()[-600:]}")
        else:
            try:
                result = judge(Path(theirs), Path(ours))
            except Exception as e:  # noqa: BLE001 - reported per strategy
                result = ("error", f"compare failed: {e}")
        print(json.dumps({"name": name, "status": result[0], "detail": result[1]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
