#!/bin/sh
# Create bench/.venv-splink, the environment of the Splink reference (bench/splink/run.py), from
# bench/splink/requirements.txt. Idempotent: does nothing when the environment exists and the
# requirements have not changed since it was made. PYTHON picks the interpreter (3.10 or newer).
#
#   sh bench/splink/setup.sh
#   bench/.venv-splink/bin/python bench/splink/run.py --entity contact INPUT.csv -o OUTPUT.csv
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv=$(dirname "$here")/.venv-splink
requirements=$here/requirements.txt
stamp=$venv/.requirements.txt

if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
if ! cmp -s "$requirements" "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
fi
echo "$venv/bin/python"
