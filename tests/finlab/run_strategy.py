#!/usr/bin/env python3
"""Run a finlab strategy file offline and capture the position it passes to `sim()`.

    run_strategy.py DATA_DIR STRATEGY_PY OUT.feather [--all]

* `finlab.data.get` reads DATA_DIR (our feather files, see local_data.py); the network is blocked.
* `finlab.backtest.sim` is replaced by a recorder: finlab's real `sim()` (which needs an online
  authorisation) is never called.  The recorder returns a stub report whose methods do nothing,
  so `report.display()` etc. in the strategy still run.
* The first `sim()` call's position (first positional argument, or `position=`) is written to
  OUT.feather in our wide layout (date column + one float64 column per stock; bool -> 0/1; NaN
  and pandas NA kept as NaN).  Its other arguments go to OUT.json (next to OUT, same stem):
  {"kwargs": {...}, "args": [...], "loaded": [dataset keys], "dtype": ..., "sim_calls": N}.
  With --all, every sim() call is written (OUT stem + ".N.feather" for calls N >= 1).

Exit status: 0 ok, 1 the strategy raised or never called sim(), 2 usage / data errors.
"""

from __future__ import annotations

import argparse
import json
import math
import runpy
import sys
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_data  # noqa: E402


def _jsonable(v):
    if isinstance(v, (str, bool, int)) or v is None:
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return _jsonable(v.item())
    except ImportError:
        pass
    return {"repr": repr(v)[:200], "type": type(v).__name__}


class _StubReport:
    """What the fake sim() returns: any attribute is a do-nothing callable."""

    def __getattr__(self, name):
        def _noop(*args, **kwargs):
            return None

        return _noop


def _position_frame(position):
    import pandas as pd

    if isinstance(position, pd.Series):
        # A Series position is one row per date in finlab only when it is a single stock;
        # keep it as a one-column frame named after the series.
        position = position.to_frame(name=str(position.name) if position.name is not None else "value")
    if not isinstance(position, pd.DataFrame):
        raise TypeError(f"sim() position is a {type(position).__name__}, not a DataFrame")
    return position


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir")
    ap.add_argument("strategy")
    ap.add_argument("out")
    ap.add_argument("--all", action="store_true", help="write every sim() call, not just the first")
    a = ap.parse_args(argv)

    local_data.block_network()
    warnings.simplefilter("ignore")  # finlab's advisory warnings would drown the report
    try:
        getter = local_data.use_local_data(a.data_dir)
    except FileNotFoundError as e:
        print(f"run_strategy: {e}", file=sys.stderr)
        return 2
    import finlab.backtest

    calls = []

    def fake_sim(*args, **kwargs):
        if args:
            position, rest = args[0], list(args[1:])
        elif "position" in kwargs:
            position, rest = kwargs.pop("position"), []
        else:
            raise TypeError("sim() called without a position")
        calls.append((position, rest, dict(kwargs)))
        return _StubReport()

    # Strategies say `from finlab.backtest import sim`, which reads this package attribute.
    finlab.backtest.sim = fake_sim

    strategy = Path(a.strategy)
    if not strategy.is_file():
        print(f"run_strategy: strategy file not found: {strategy}", file=sys.stderr)
        return 2
    try:
        runpy.run_path(str(strategy), run_name="__main__")
    except local_data.LocalDataMissing as e:
        print(f"run_strategy: {e}", file=sys.stderr)
        return 2
    except BaseException:  # noqa: BLE001 - report any failure of the strategy itself
        print(f"run_strategy: {strategy} raised:", file=sys.stderr)
        traceback.print_exc()
        return 1
    if not calls:
        print(f"run_strategy: {strategy} never called sim()", file=sys.stderr)
        return 1

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    todo = calls if a.all else calls[:1]
    meta = []
    for n, (position, rest, kwargs) in enumerate(todo):
        frame = _position_frame(position)
        target = out if n == 0 else out.with_name(f"{out.stem}.{n}{out.suffix}")
        local_data.write_panel(frame, target)
        meta.append(
            {
                "file": target.name,
                "kwargs": _jsonable(kwargs),
                "args": _jsonable(rest),
                "type": type(position).__name__,
                "dtypes": sorted({str(t) for t in frame.dtypes}),
                "shape": list(frame.shape),
            }
        )
    info = dict(meta[0])
    info["loaded"] = sorted(getter.loaded)
    info["sim_calls"] = len(calls)
    if a.all:
        info["calls"] = meta
    out.with_suffix(".json").write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
