#!/usr/bin/env python3
"""Operator-parity oracle: evaluate expressions over FinlabDataFrames with finlab 2.2.20.

    ops_oracle.py CASES.json OUT_DIR [--data-dir DIR] [--only NAME ...]

CASES.json is a list of {"name": str, "inputs": {"a": "path.feather", ...}, "expr": str}.
Input paths are relative to CASES.json's directory. Each input is loaded as a
`finlab.dataframe.FinlabDataFrame` (DatetimeIndex `date`, columns axis `symbol`) and bound to its
name; `expr` is a Python expression over those names plus `np` (numpy), `pd` (pandas) and
`data` (finlab.data, whose `get` reads --data-dir if given, else refuses) and the type
names `int`, `float` and `bool` (for `astype`).

For each case OUT_DIR/NAME.feather holds the result in our wide layout:
  DataFrame → date column + one float64 column per symbol (bool → 0/1, NaN/NA kept);
  Series indexed by dates (e.g. quantile_row) → date column + one column named `value`;
  tuple (multi-output indicators) → NAME.0.feather, NAME.1.feather, …;
  scalar → only recorded in the summary.
OUT_DIR/summary.json records per case: result type, pandas dtypes, shape, whether the result is
still a FinlabDataFrame, or the exception finlab raised (a case that raises is a finding, not a
failure). Exit status: 0 (even if cases raised), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_data  # noqa: E402


def describe(res):
    import pandas as pd
    from finlab.dataframe import FinlabDataFrame

    d = {"type": type(res).__name__, "finlab_frame": isinstance(res, FinlabDataFrame)}
    if isinstance(res, pd.DataFrame):
        d["shape"] = list(res.shape)
        d["dtypes"] = sorted({str(t) for t in res.dtypes})
        d["index"] = type(res.index).__name__
        d["columns_name"] = res.columns.name
    elif isinstance(res, pd.Series):
        d["shape"] = [len(res)]
        d["dtypes"] = [str(res.dtype)]
        d["index"] = type(res.index).__name__
    return d


def write_result(res, path: Path):
    import numpy as np
    import pandas as pd

    if isinstance(res, pd.Series):
        res = res.to_frame(name="value")
    if isinstance(res, pd.DataFrame):
        if not isinstance(res.index, pd.DatetimeIndex):
            raise TypeError(f"result index is {type(res.index).__name__}, not dates")
        local_data.write_panel(res, path)
        return True
    if isinstance(res, (bool, int, float, np.generic)):
        return False
    raise TypeError(f"cannot write a {type(res).__name__}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases")
    ap.add_argument("out_dir")
    ap.add_argument("--data-dir", help="data set served by data.get (default: none)")
    ap.add_argument("--only", nargs="*", help="run only these case names")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)

    local_data.block_network()
    import numpy as np
    import pandas as pd
    import finlab.data
    from finlab.dataframe import FinlabDataFrame

    if a.data_dir:
        local_data.use_local_data(a.data_dir)
    else:
        def no_data(key, *args, **kwargs):
            raise local_data.LocalDataMissing(f"case needs data.get({key!r}); pass --data-dir")
        finlab.data.get = no_data

    cases_path = Path(a.cases)
    cases = json.loads(cases_path.read_text())
    base = cases_path.parent
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loaded: dict[str, pd.DataFrame] = {}
    summary = {}
    for case in cases:
        name = case["name"]
        if a.only and name not in a.only:
            continue
        env = {"np": np, "pd": pd, "data": finlab.data, "int": int, "float": float, "bool": bool}
        for var, p in case.get("inputs", {}).items():
            full = (base / p).resolve()
            if full not in loaded:
                loaded[full] = local_data.read_panel(full)
            env[var] = FinlabDataFrame(loaded[full].copy())
        entry = {"expr": case["expr"]}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = eval(case["expr"], {"__builtins__": {}}, env)  # noqa: S307 - test oracle
            except Exception as e:  # noqa: BLE001
                entry["error"] = f"{type(e).__name__}: {e}"
                entry["traceback_tail"] = traceback.format_exc().strip().splitlines()[-3:]
                res = None
        entry["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught})
        if "error" not in entry:
            if isinstance(res, tuple):
                entry["type"] = "tuple"
                entry["parts"] = []
                for i, part in enumerate(res):
                    write_result(part, out / f"{name}.{i}.feather")
                    entry["parts"].append(describe(part))
            else:
                entry.update(describe(res))
                try:
                    if not write_result(res, out / f"{name}.feather"):
                        entry["value"] = res.item() if hasattr(res, "item") else res
                except TypeError as e:
                    entry["error"] = f"not writable: {e}"
        summary[name] = entry
        if not a.quiet:
            status = entry.get("error") or f"{entry.get('type')} {entry.get('shape', '')} {entry.get('dtypes', '')}"
            print(f"{name:24} {status}")
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
