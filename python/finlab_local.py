# Run finlab strategies on dsl-engine's local data instead of finlab's servers.
#
# use_local_data(path) replaces finlab.data.get with a reader of <path>/<key>.feather (finlab's
# cache layout: ':' in the key becomes '#'; a `date` column plus one column per stock), so
# `data.get("price:收盤價")` returns a FinlabDataFrame indexed by date, one column per symbol.
# Importable as a module (`from finlab_local import use_local_data`); dsl-engine's exporter also
# pastes this file into exported strategies, behind `if os.environ.get("DSL_ENGINE_DATA"):`, and
# its tests read exports back with dsl-engine's parser: keep each statement on one logical line
# at the top level of the function bodies free of generator arguments (`f(x for x in y)`).


def use_local_data(path):
    """Make finlab.data.get read wide Arrow files from the directory `path`."""
    import os as _os

    import finlab.data
    import pandas as _pd
    from finlab.dataframe import FinlabDataFrame

    root = _os.path.abspath(_os.path.expanduser(str(path)))
    if not _os.path.isdir(root):
        raise FileNotFoundError("DSL_ENGINE_DATA: no data directory at " + root)

    def available():
        names = [n for n in _os.listdir(root) if n.endswith(".feather")]
        return sorted(n[: -len(".feather")].replace("#", ":") for n in names)

    def get(dataset, *args, **kwargs):
        file = _os.path.join(root, str(dataset).replace(":", "#") + ".feather")
        if not _os.path.isfile(file):
            raise KeyError(
                "dataset %r is not in %s (available: %s)"
                % (dataset, root, ", ".join(available()) or "none")
            )
        df = _pd.read_feather(file)
        if "date" not in df.columns:
            raise ValueError("%s has no `date` column (not a wide finlab panel)" % file)
        df = df.set_index(_pd.DatetimeIndex(df.pop("date"), name="date"))
        df.columns.name = "symbol"
        return FinlabDataFrame(df)

    finlab.data.get = get
    return get
