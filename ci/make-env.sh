#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and link it as .venv.
#
# The venv is about 6 GB (torch with its CUDA libraries), so it lives outside the clone in a
# cache keyed by the hash of requirements.lock and pyproject.toml: every clone with the same
# lock file shares it, and CI does not reinstall it on each run. patchcore itself is installed
# editable (no deps) into it from the current clone, every time, which takes a second or two.
#
# Environment: PATCHCORE_VENV_CACHE (default: ${XDG_CACHE_HOME:-~/.cache}/patchcore),
#              PYTHON (default: python3.11, else python3; must be Python 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=${PATCHCORE_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patchcore}
py=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
  echo "make env: Python 3.11 is needed (torch 2.14.1 wheels); set PYTHON=/path/to/python3.11" >&2
  exit 1
}
hash=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)
venv=$cache/venv-$hash
mkdir -p "$cache"
exec 9>"$cache/.lock-$hash"
flock 9   # two clones setting up at once wait for each other
if [ ! -e "$venv/.complete" ]; then
  echo "make env: creating $venv (first time for this lock file; about 2 minutes)"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.lock
  touch "$venv/.complete"
fi
# Point the shared venv at this clone's patchcore.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$root" >/dev/null
ln -sfn "$venv" .venv
echo "make env: .venv -> $venv"
