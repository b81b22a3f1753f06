#!/usr/bin/env python3
"""Write small synthetic wide panels that exercise finlab's alignment rules (docs/semantics.md §5.1).

    make_panels.py OUT_DIR [--seed N]

Panels (date column + float64 column per symbol, like our data files):
  daily.feather      business days 2023-01-02 … 2023-06-30, symbols 1101 1102 1103 2330 2454 2603,
                     NaNs scattered, a stock listed late (2603) and one with a 12-bar gap (1103),
                     ties (rounded values), a constant column.
  daily2.feather     same grid as daily, different column order and one symbol only here (9999).
  shifted.feather    daily grid starting 2023-02-15 (later start), columns 2330 1101 1102 9999.
  gapped.feather     daily grid with some dates missing (every 7th dropped), columns as daily.
  monthly.feather    one row per month dated on the 10th (or the next business day), columns
                     2330 1101 2454 1102 (order differs) with NaNs: revenue-like values.
  quarterly.feather  irregular "disclosure" dates (e.g. 2023-03-28, 2023-05-12, 2023-05-15,
                     2023-08-11, …), some stocks missing some quarters.
  bools.feather      0/1 values (with NaN) on the daily grid: a bool-like mask.
  bools_monthly.feather 0/1 values on the monthly grid.
  ties.feather       daily, each row has ties at the top and bottom, for is_largest/rank.
  etl#adj_close.feather  the adjusted close hold_until's stops read, on the daily grid, with
                     holes (12 % of the cells and two runs).
Also writes cases.json: a ready-made operator case list for ops_oracle.py.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_data import write_panel  # noqa: E402

SYMS = ["1101", "1102", "1103", "2330", "2454", "2603"]


def walk(rng, n, m, start=50.0):
    steps = rng.normal(0, 0.02, size=(n, m))
    return start * np.exp(np.cumsum(steps, axis=0)) * rng.uniform(0.5, 2, size=m)


def make(out: Path, seed: int) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    days = pd.bdate_range("2023-01-02", "2023-06-30", name="date")
    n = len(days)
    panels: dict[str, pd.DataFrame] = {}

    d = pd.DataFrame(np.round(walk(rng, n, len(SYMS)), 1), index=days, columns=SYMS)
    d.iloc[:30, SYMS.index("2603")] = np.nan  # listed late
    d.iloc[40:52, SYMS.index("1103")] = np.nan  # a 12-bar gap
    for _ in range(15):  # scattered holes
        d.iloc[rng.integers(0, n), rng.integers(0, len(SYMS))] = np.nan
    d["2454"] = 100.0  # constant column: rank/is_largest ties, zero returns
    d.iloc[::17, SYMS.index("2454")] = np.nan
    panels["daily"] = d

    cols2 = ["2330", "9999", "1101", "2454", "1102"]
    d2 = pd.DataFrame(np.round(walk(rng, n, len(cols2)), 0), index=days, columns=cols2)
    d2.iloc[5:9, 0] = np.nan
    panels["daily2"] = d2

    sh_days = days[days >= "2023-02-15"]
    colsh = ["2330", "1101", "1102", "9999"]
    panels["shifted"] = pd.DataFrame(
        np.round(walk(rng, len(sh_days), len(colsh)), 2), index=sh_days, columns=colsh
    )

    gdays = days[np.arange(n) % 7 != 3]
    g = pd.DataFrame(np.round(walk(rng, len(gdays), len(SYMS)), 2), index=gdays, columns=SYMS)
    g.iloc[10:13, 1] = np.nan
    panels["gapped"] = g

    # Monthly, dated on the 10th, moved to the next business day (like monthly_revenue).
    m_days = pd.DatetimeIndex(
        [pd.Timestamp(2022, mo, 10) for mo in (11, 12)] + [pd.Timestamp(2023, mo, 10) for mo in range(1, 8)]
    )
    m_days = pd.DatetimeIndex([x if x.weekday() < 5 else x + pd.offsets.BDay(1) for x in m_days], name="date")
    colm = ["2330", "1101", "2454", "1102"]
    m = pd.DataFrame(np.round(rng.uniform(1e5, 1e6, size=(len(m_days), len(colm))), -3), index=m_days, columns=colm)
    m.iloc[0, 1] = np.nan
    m.iloc[4, 3] = np.nan
    m.iloc[2, 0] = m.iloc[2, 2]  # a tie
    panels["monthly"] = m

    q_days = pd.DatetimeIndex(
        ["2022-11-14", "2023-03-28", "2023-03-31", "2023-05-12", "2023-05-15", "2023-08-11", "2023-08-14"],
        name="date",
    )
    colq = ["2454", "2330", "1101", "2603"]
    q = pd.DataFrame(np.round(rng.normal(0.5, 1.0, size=(len(q_days), len(colq))), 2), index=q_days, columns=colq)
    # Each company discloses on one of the two dates of a season: NaN on the other.
    q.iloc[1, [0, 1]] = np.nan
    q.iloc[2, [2, 3]] = np.nan
    q.iloc[3, [1]] = np.nan
    q.iloc[4, [0, 2, 3]] = np.nan
    q.iloc[5, [0, 1]] = np.nan
    q.iloc[6, [2, 3]] = np.nan
    panels["quarterly"] = q

    b = pd.DataFrame((rng.uniform(size=(n, len(SYMS))) > 0.5).astype(float), index=days, columns=SYMS)
    b.iloc[:3, 0] = np.nan
    b.iloc[50:55, 4] = np.nan
    panels["bools"] = b

    bm = pd.DataFrame((rng.uniform(size=(len(m_days), len(colm))) > 0.4).astype(float), index=m_days, columns=colm)
    panels["bools_monthly"] = bm

    t = pd.DataFrame(rng.integers(0, 4, size=(n, len(SYMS))).astype(float), index=days, columns=SYMS)
    t.iloc[::9, 2] = np.nan
    panels["ties"] = t

    paths = {}
    for name, df in panels.items():
        df.index.name = "date"
        p = out / f"{name}.feather"
        write_panel(df, p)
        paths[name] = p

    # The adjusted close `hold_until`'s stops read (finlab: data.get("etl:adj_close")), a data
    # set key rather than a case input. Drawn last so the panels above do not change. Holes
    # everywhere (also on the row after an entry and while a name is held) and two longer runs.
    a = pd.DataFrame(np.round(walk(rng, n, len(SYMS)), 2), index=days, columns=SYMS)
    a = a.mask(rng.uniform(size=a.shape) < 0.12)
    a.iloc[60:64, 0] = np.nan
    a.iloc[80:83, 3] = np.nan
    a.index.name = "date"
    write_panel(a, out / "etl#adj_close.feather")
    write_prices(out, rng, days)
    return paths


def write_prices(out: Path, rng, days) -> None:
    """Raw daily candles `data.indicator` reads (price:開盤價/最高價/最低價/收盤價/成交股數):
    high ≥ open, close ≥ low, prices on a 0.05 tick (equal highs and lows, flat bars), a stock
    listed late, one halted for 25 bars (finlab's unpriced mask), one with a constant price, one
    never priced, volumes with holes. Drawn after every other panel so those do not change."""
    n, m = len(days), len(SYMS)
    close = walk(rng, n, m)
    open_ = close * np.exp(rng.normal(0, 0.01, size=(n, m)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, size=(n, m))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, size=(n, m))))
    tick = lambda x: np.round(x * 20) / 20  # noqa: E731
    frames = {
        "開盤價": tick(open_),
        "最高價": tick(high),
        "最低價": tick(low),
        "收盤價": tick(close),
        "成交股數": np.round(rng.lognormal(13, 1, size=(n, m))),
    }
    frames = {k: pd.DataFrame(v, index=days, columns=SYMS) for k, v in frames.items()}
    for k, df in frames.items():
        df.iloc[:20, SYMS.index("2603")] = np.nan  # listed late
        df.iloc[70:95, SYMS.index("1103")] = np.nan  # halted: 25 bars without a price
        df["2454"] = 88.0 if k != "成交股數" else 1000.0  # constant: zero ranges and changes
        df["9998"] = np.nan  # never priced
    holes = rng.uniform(size=(n, m)) < 0.05
    frames["成交股數"] = frames["成交股數"].mask(np.c_[holes, np.zeros((n, 1), bool)])
    frames["收盤價"].iloc[[33, 34], SYMS.index("1101")] = np.nan  # a two-bar hole in the close
    for k, df in frames.items():
        df.index.name = "date"
        write_panel(df, out / f"price#{k}.feather")


# Operator cases over the panels above (names are the panel names). Each is a Python expression
# evaluated by ops_oracle.py with finlab's FinlabDataFrame; `np` is numpy.
CASES = [
    ("average5", "daily.average(5)"),
    ("average4_gapped", "gapped.average(4)"),
    ("rise", "daily.rise()"),
    ("rise3", "daily.rise(3)"),
    ("fall2", "daily.fall(2)"),
    ("sustain3", "bools.sustain(3)"),
    ("sustain5_2", "bools.sustain(5, 2)"),
    ("is_largest2", "daily.is_largest(2)"),
    ("is_smallest2", "daily.is_smallest(2)"),
    ("is_largest2_ties", "ties.is_largest(2)"),
    ("is_smallest2_ties", "ties.is_smallest(2)"),
    ("is_largest10_all", "daily.is_largest(10)"),
    ("rank_pct", "daily.rank(axis=1, pct=True)"),
    ("rank_pct_ties", "ties.rank(axis=1, pct=True)"),
    ("rank_plain_ties", "ties.rank(axis=1)"),
    ("quantile_row", "daily.quantile_row(0.3)"),
    ("quantile_row_ties", "ties.quantile_row(0.5)"),
    ("is_entry", "(bools > 0).is_entry()"),
    ("is_exit", "(bools > 0).is_exit()"),
    ("pct_change", "daily.pct_change()"),
    ("pct_change_nofill", "daily.pct_change(fill_method=None)"),
    ("shift", "daily.shift(2)"),
    ("rolling_max", "daily.rolling(5).max()"),
    ("rolling_mean_mp", "daily.rolling(5, min_periods=2).mean()"),
    ("gt_scalar", "daily > 50"),
    ("gt_daily2", "daily > daily2"),
    ("add_daily2", "daily + daily2"),
    ("div_shifted", "daily / shifted"),
    ("shifted_div", "shifted / daily"),
    ("gt_gapped", "daily > gapped"),
    ("and_monthly", "(daily > 50) & (monthly > 5e5)"),
    ("monthly_and_daily", "(monthly > 5e5) & (daily > 50)"),
    ("and_quarterly", "(daily > 50) & (quarterly > 0)"),
    ("or_quarterly", "(daily > 50) | (quarterly > 0)"),
    ("mul_bool_float", "(daily > 50) * daily"),
    ("select_mask", "daily[daily2 > 40]"),
    ("select_mask_monthly", "daily[monthly > 5e5]"),
    ("where", "daily.where(daily > 50)"),
    ("where_other", "daily.where(daily2 > 40, 0)"),
    ("fillna0", "daily.fillna(0)"),
    ("ffill", "daily.ffill()"),
    ("clip", "daily.clip(40, 60)"),
    ("abs", "(daily - 50).abs()"),
    ("np_log", "np.log(daily)"),
    ("np_maximum_shifted", "np.maximum(daily, shifted)"),
    ("np_maximum_daily2", "np.maximum(daily, daily2)"),
    ("monthly_average3", "monthly.average(3)"),
    ("monthly_pct12", "monthly.pct_change(2)"),
    ("quarterly_rolling2", "quarterly.rolling(2).sum()"),
    ("neg", "-daily"),
    ("invert", "~(bools > 0)"),
    ("hold_until", "(daily > daily.average(5)).hold_until(daily < daily.average(10))"),
    ("hold_until_n2_rank", "(daily > daily.average(5)).hold_until(daily < daily.average(10), nstocks_limit=2, rank=daily)"),
]


def write_cases(out: Path, paths: dict[str, Path]) -> Path:
    cases = []
    for name, expr in CASES:
        used = {k: str(v.name) for k, v in paths.items() if re.search(rf"\b{k}\b", expr)}
        cases.append({"name": name, "inputs": used, "expr": expr})
    p = out / "cases.json"
    p.write_text(json.dumps(cases, indent=1) + "\n")
    return p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    out = Path(a.out_dir)
    paths = make(out, a.seed)
    cases = write_cases(out, paths)
    print(f"wrote {len(paths)} panels and {cases}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
