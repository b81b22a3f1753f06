#!/usr/bin/env bash
# Create (or reuse) the finlab oracle venv:  tests/finlab/setup.sh VENV_DIR
#
# Installs the pins of requirements.txt (finlab==2.2.20 and exact pandas/numpy/pyarrow/TA-Lib,
# and lark and llguidance for the grammar tests; why each is pinned is explained there) under the
# constraints of constraints.txt (all transitive versions). Idempotent: a stamp file VENV_DIR/.dsl-oracle-stamp holds the Python
# version and both pin files; when it matches, nothing is done. Concurrent runs on the same
# VENV_DIR wait on a lock. Prints the venv's python path on the last line of stdout.
#
# Exit status: 0 ready; 2 usage; 3 PyPI unreachable; 4 install failed.
# Env: PYTHON (interpreter to create the venv with, default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -ne 1 ]]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv="$1"
python="${PYTHON:-python3}"
mkdir -p "$(dirname "$venv")"
venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"

if ! command -v "$python" >/dev/null; then
    echo "finlab oracle setup: no '$python' interpreter (set PYTHON=...)" >&2
    exit 4
fi

stamp_text() {
    echo "python: $("$python" -c 'import sys; print(sys.version.split()[0])')"
    cat "$here/requirements.txt" "$here/constraints.txt"
}

lock="$venv.lock"
exec 9>"$lock"
flock 9

stamp="$venv/.dsl-oracle-stamp"
if [[ -x "$venv/bin/python" && -f "$stamp" ]] && diff -q <(stamp_text) "$stamp" >/dev/null; then
    echo "finlab oracle venv ready (cached): $venv" >&2
    echo "$venv/bin/python"
    exit 0
fi

echo "finlab oracle setup: creating $venv" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --timeout 30 --retries 2)

# Fail early and clearly when the package index cannot be reached.
if ! "${pip[@]}" index versions finlab >/dev/null 2>"$venv.probe.err"; then
    echo "finlab oracle setup: cannot reach the Python package index (PyPI) with pip:" >&2
    sed 's/^/    /' "$venv.probe.err" | tail -5 >&2
    echo "finlab oracle setup: the oracle needs network access to PyPI to install finlab==2.2.20." >&2
    rm -f "$venv.probe.err"
    rm -rf "$venv"
    exit 3
fi
rm -f "$venv.probe.err"

if ! "${pip[@]}" install --quiet --only-binary=TA-Lib,numpy,pandas,pyarrow,llguidance \
        -r "$here/requirements.txt" -c "$here/constraints.txt" >&2; then
    echo "finlab oracle setup: pip install of the pinned finlab environment failed (see above)" >&2
    rm -rf "$venv"
    exit 4
fi
# The oracle must never import a version other than the pinned one.
"$venv/bin/python" - "$here/requirements.txt" <<'PY' >&2
import sys
from importlib.metadata import version
bad = []
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, want = line.split("==")
        if version(name) != want:
            bad.append(f"{name} {version(name)} != {want}")
import finlab.dataframe, talib, lark, llguidance  # noqa: F401  (importable offline)
if bad:
    sys.exit("finlab oracle setup: wrong versions: " + "; ".join(bad))
PY
stamp_text >"$stamp"
echo "finlab oracle venv ready: $venv" >&2
echo "$venv/bin/python"
