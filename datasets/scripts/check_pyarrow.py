#!/usr/bin/env python3
"""Checks that pandas/pyarrow read a dsl-engine data directory as finlab-style wide frames.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install pyarrow pandas
    /tmp/venv/bin/python datasets/scripts/check_pyarrow.py ~/.cache/dsl-engine/data/tw-synth-v1-seed42

Each `*.feather` must load with `pandas.read_feather`, have a datetime `date` column that becomes
the index, float64 value columns named by stock id (or the one index column of a benchmark), and
carry `dsl_engine.synthetic` in its schema metadata. Prints `ok <n> files` on success.
"""
import pathlib
import re
import sys

import pandas as pd
import pyarrow.feather as feather

root = pathlib.Path(sys.argv[1])
files = sorted(root.glob("*.feather"))
assert files, f"no .feather files in {root}"
for path in files:
    table = feather.read_table(path)
    meta = table.schema.metadata or {}
    assert b"dsl_engine.synthetic" in meta, f"{path.name}: no synthetic flag"
    df = pd.read_feather(path).set_index("date")
    assert pd.api.types.is_datetime64_any_dtype(df.index), f"{path.name}: index {df.index.dtype}"
    assert df.index.is_monotonic_increasing and df.index.is_unique, path.name
    assert all(str(t) == "float64" for t in df.dtypes), f"{path.name}: {set(map(str, df.dtypes))}"
    if path.name.startswith(("benchmark_return", "taiex_total_index")):
        assert len(df.columns) == 1, path.name
    else:
        assert all(re.fullmatch(r"\d{4}", c) for c in df.columns), f"{path.name}: {list(df.columns)[:5]}"
    print(f"{path.name}: {df.shape[0]} dates x {df.shape[1]} columns, "
          f"{df.index[0].date()} -> {df.index[-1].date()}")
print(f"ok {len(files)} files")
