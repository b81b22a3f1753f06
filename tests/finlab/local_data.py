"""Offline data for the finlab oracle: serve our feather files through `finlab.data.get`.

`use_local_data(path)` replaces `finlab.data.get` with a reader of a dsl-engine data directory
(finlab cache layout: one Arrow IPC file per dataset key, file name = key with ':' -> '#' plus
'.feather', a `date` timestamp column and one float64 column per stock symbol).  The result is a
`finlab.dataframe.FinlabDataFrame` with a DatetimeIndex named `date` and a columns axis named
`symbol`, like finlab's own wide tables.

Every module of finlab that loads data does so through the attribute `finlab.data.get` (e.g.
`data.indicator` via `market.get_price`, `hold_until` stops via `data.get('etl:adj_close')`), so
patching that one attribute is enough; `block_network()` makes any accidental login / download
attempt fail loudly instead of hanging or succeeding silently.

A twin of this file (`python/finlab_local.py`) is being written on another branch; the two will
be merged.  This file uses finlab only through its public API.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pandas as pd
import pyarrow.feather as feather

__all__ = ["use_local_data", "block_network", "read_panel", "write_panel", "key_to_file"]


def key_to_file(data_dir: str | os.PathLike, key: str) -> Path:
    return Path(data_dir) / (key.replace(":", "#") + ".feather")


def read_panel(path: str | os.PathLike) -> pd.DataFrame:
    """Read a wide feather panel (date column + one column per symbol) as a plain DataFrame."""
    df = feather.read_table(str(path)).to_pandas()
    if "date" not in df.columns:
        raise ValueError(f"{path}: no `date` column")
    df = df.set_index("date")
    df.index = pd.DatetimeIndex(df.index, name="date")
    df.columns = pd.Index([str(c) for c in df.columns], name="symbol", dtype=object)
    return df


def write_panel(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a wide panel: a `date` timestamp[ns] column, then one float64 column per symbol.

    Booleans (also nullable `boolean`, whose NA becomes NaN) are written as 0/1 floats."""
    import numpy as np

    cols = {
        str(c): df.iloc[:, i].to_numpy(dtype="float64", na_value=np.nan)
        for i, c in enumerate(df.columns)
    }
    out = pd.DataFrame(cols, index=pd.DatetimeIndex(df.index).astype("datetime64[ns]"))
    out.index.name = "date"
    feather.write_feather(out.reset_index(), str(path), compression="uncompressed")


class LocalDataMissing(KeyError):
    pass


def use_local_data(path: str | os.PathLike):
    """Replace `finlab.data.get` with a reader of the data directory `path`; return the reader.

    Unknown keys raise `LocalDataMissing` naming the file that was looked for (never a download).
    """
    import finlab.data
    from finlab.dataframe import FinlabDataFrame

    data_dir = Path(path)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory not found: {data_dir}")
    cache: dict[str, pd.DataFrame] = {}

    def get(dataset: str, *args, **kwargs):
        if args or kwargs:
            # finlab's get(dataset, save_to_storage=True, force_download=False) flags are
            # storage-only; anything else is unexpected here.
            unknown = set(kwargs) - {"save_to_storage", "force_download"}
            if unknown:
                raise TypeError(f"local data.get: unsupported arguments {sorted(unknown)}")
        if dataset == "security_industry_themes" and not key_to_file(data_dir, dataset).exists():
            # dsl-engine builds industry membership from its reference data; give finlab the
            # same table in finlab's long layout (one category list per stock).
            return industry_themes()
        if dataset not in cache:
            file = key_to_file(data_dir, dataset)
            if not file.exists():
                raise LocalDataMissing(
                    f"dataset {dataset!r} is not in the local data set ({file} missing)"
                )
            cache[dataset] = read_panel(file)
        return FinlabDataFrame(cache[dataset].copy())

    get.loaded = cache  # which keys a run loaded (the oracle reports them)
    finlab.data.get = get
    return get


def industry_themes():
    """`security_industry_themes` in finlab's long layout from the repository's reference data
    (`datasets/securities.csv`, `industries.csv`, or `$DSL_DATASETS_DIR`): columns `stock_id` and `category`, the string
    repr of a one-element list of the TWSE industry's name."""
    import csv

    root = Path(os.environ.get("DSL_DATASETS_DIR") or Path(__file__).resolve().parents[2] / "datasets")
    with open(root / "industries.csv", encoding="utf-8") as f:
        names = {row["code"]: row["name_zh"] for row in csv.DictReader(f)}
    rows = []
    with open(root / "securities.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = names.get(row["industry"])
            if name is not None:
                rows.append({"stock_id": row["code"], "category": repr([name])})
    return pd.DataFrame(rows)


def block_network() -> None:
    """Make every outbound socket connection fail (AF_UNIX is left alone)."""

    real_connect = socket.socket.connect

    def connect(self, address):  # noqa: ANN001
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise ConnectionRefusedError(
                f"finlab oracle: network access blocked (tried to connect to {address!r})"
            )
        return real_connect(self, address)

    def create_connection(address, *args, **kwargs):  # noqa: ANN001
        raise ConnectionRefusedError(
            f"finlab oracle: network access blocked (tried to connect to {address!r})"
        )

    socket.socket.connect = connect
    socket.create_connection = create_connection
