# Run finlab strategies on dsl-engine's local data, without a finlab login.
#
# `use_local_data(path)` points finlab's data entry points (`data.get`, and `data.indicator`,
# which reads its prices through `data.get`) at a dsl-engine data directory: <path>/<key>.feather
# in finlab's cache layout (':' in the key becomes '#'; a `date` column plus one column per
# stock). `local_sim(script, path)` stands in for finlab's `sim()`: it writes the position next
# to the script as a feather and prints the `dsl-engine sim` command that backtests it with the
# same options. Importable as a module (`from finlab_local import use_local_data, local_sim`).
#
# Notes for dsl-engine developers (this header is not exported): the exporter pastes this file
# from its first `def` on, indented under `if os.environ.get("DSL_ENGINE_DATA"):`, so comments
# below it reach users. The tests read exports back with dsl-engine's parser: a line that does
# not start with a keyword (`def`, `if`, `return`, ...) must be an expression or an assignment
# without conditional expressions or generator arguments (`f(x for x in y)`; use a list).


def use_local_data(path, industries=None):
    """Make finlab's data.get and data.indicator read the dsl-engine data directory `path`.

    `industries`: the TWSE industry of each stock ("name: code code ..." lines) for
    `industry_rank`, which reads data.get("security_industry_themes")."""
    import os as _os

    import finlab.data
    import pandas as _pd
    from finlab.dataframe import FinlabDataFrame

    root = _os.path.abspath(_os.path.expanduser(str(path)))
    if not _os.path.isdir(root):
        raise FileNotFoundError("DSL_ENGINE_DATA: no data directory at " + root)
    real_indicator = finlab.data.indicator

    def available():
        return sorted([n[: -len(".feather")].replace("#", ":") for n in _os.listdir(root) if n.endswith(".feather")])

    def get(dataset, *args, **kwargs):
        if dataset == "security_industry_themes" and industries is not None:
            return industry_table(industries)
        file = _os.path.join(root, str(dataset).replace(":", "#") + ".feather")
        if not _os.path.isfile(file):
            raise KeyError("dataset %r is not in %s (available: %s)" % (dataset, root, ", ".join(available()) or "none"))
        df = _pd.read_feather(file)
        if "date" not in df.columns:
            raise ValueError("%s has no `date` column (not a wide finlab panel)" % file)
        df = df.set_index(_pd.DatetimeIndex(df.pop("date"), name="date"))
        df.columns.name = "symbol"
        return FinlabDataFrame(df)

    def indicator(indname, *args, **kwargs):
        """finlab's data.indicator, computed with TA-Lib on the local prices."""
        try:
            import talib  # noqa: F401
        except ImportError:
            raise ImportError("data.indicator needs TA-Lib: pip install TA-Lib") from None
        return real_indicator(indname, *args, **kwargs)

    def industry_table(text):
        rows = [(code, name.strip()) for name, codes in [line.split(":", 1) for line in text.strip().splitlines()] for code in codes.split()]
        return _pd.DataFrame({"stock_id": [r[0] for r in rows], "category": [repr([r[1]]) for r in rows]})

    finlab.data.get = get
    finlab.data.indicator = indicator
    return get


def local_sim(script, path):
    """A stand-in for finlab's sim(): writes the position next to `script` as a feather file
    and prints the `dsl-engine sim` command that backtests it with the same options."""
    import math as _math
    import os as _os
    import shlex as _shlex

    import pandas as _pd

    flags = {
        "resample": "--resample",
        "resample_offset": "--resample-offset",
        "trade_at_price": "--trade-at-price",
        "position_limit": "--position-limit",
        "fee_ratio": "--fee-ratio",
        "tax_ratio": "--tax-ratio",
        "stop_loss": "--stop-loss",
        "take_profit": "--take-profit",
        "trail_stop": "--trail-stop",
        "trail_stop_activation": "--trail-stop-activation",
        "end_date": "--end-date",
        "name": "--name",
    }
    switches = {"touched_exit": "--touched-exit", "retain_cost_when_rebalance": "--retain-cost-when-rebalance"}
    no_effect = ["upload", "metrics_only", "notification_enable", "line_access_token", "live_performance_start", "mae_mfe_window", "mae_mfe_window_step", "market"]

    def text(key, value):
        if key == "end_date":
            return str(_pd.Timestamp(value).date())
        if isinstance(value, float):
            return repr(value)
        return str(value)

    def command(out, options):
        words = ["dsl-engine", "sim", "--position", out, "--data-dir", _os.path.abspath(str(path))]
        for key, value in options.items():
            if value is None or key in no_effect:
                continue
            if key in flags:
                words += [flags[key], text(key, value)]
            elif key in switches:
                if value:
                    words.append(switches[key])
            elif key == "stop_trading_next_period":
                if not value:
                    words += ["--stop-trading-next-period", "false"]
            else:
                print("note: sim(%s=...) has no dsl-engine counterpart and is left out" % key)
        return " ".join([_shlex.quote(w) for w in words])

    def sim(position, **options):
        frame = position
        if isinstance(frame, _pd.Series):
            frame = frame.to_frame(name=str(frame.name))
        kinds = set([str(t) for t in frame.dtypes])
        if kinds <= {"bool"}:
            out = _pd.DataFrame({str(c): frame[c].to_numpy() for c in frame.columns})
        else:
            out = _pd.DataFrame({str(c): frame[c].to_numpy(dtype="float64", na_value=_math.nan) for c in frame.columns})
        out.index = _pd.DatetimeIndex(frame.index).tz_localize(None).astype("datetime64[ns]")
        out.index.name = "date"
        stem = _os.path.splitext(_os.path.abspath(str(script)))[0]
        file = stem + ".position.feather"
        out.reset_index().to_feather(file)
        print("wrote %s (%d dates x %d stocks)" % (file, out.shape[0], out.shape[1]))
        print("Backtest it with dsl-engine (finlab's sim() needs a finlab login):")
        print("  " + command(file, options))
        return None

    return sim
