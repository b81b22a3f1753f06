#!/usr/bin/env python3
"""Time finlab's own evaluation of strategy files (pandas), for `cargo bench --bench eval`.

    time_strategies.py DATA_DIR STRATEGY.py [STRATEGY.py ...]

Per file: the strategy runs once to load its datasets (kept in memory), then REPEAT more times
with the datasets already loaded; the median of those runs is printed as
`<file>\t<seconds>` — the time finlab's FinlabDataFrame operations take to build the position,
without disk reads and without sim() (which is captured, never called).
"""

from __future__ import annotations

import runpy
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_data  # noqa: E402

REPEAT = 3


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    data_dir = sys.argv[1]
    local_data.block_network()
    local_data.use_local_data(data_dir)
    import finlab.backtest
    from finlab import data

    loaded = {}
    original_get = data.get

    def cached_get(key, *args, **kwargs):
        if key not in loaded:
            loaded[key] = original_get(key, *args, **kwargs)
        return loaded[key].copy()

    data.get = cached_get
    class _Report:
        """What the stand-in for sim() returns: any method call is a no-op."""

        def __getattr__(self, name):
            return lambda *a, **k: None

    finlab.backtest.sim = lambda *a, **k: _Report()
    warnings.simplefilter("ignore")
    for path in sys.argv[2:]:
        runpy.run_path(path, run_name="__main__")
        runs = []
        for _ in range(REPEAT):
            t = time.perf_counter()
            runpy.run_path(path, run_name="__main__")
            runs.append(time.perf_counter() - t)
        print(f"{Path(path).name}\t{statistics.median(runs):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
