# Sourced by scripts/run, scripts/test and scripts/lock: create .venv and install the locked
# dependencies into it.
#   source _venv.sh        requirements.lock       what the app needs (scripts/run)
#   source _venv.sh test   requirements-test.lock  the same, plus the test and lint tools (scripts/test)
#   source _venv.sh bare   create .venv, install nothing (scripts/lock)
# It reinstalls when setup.cfg, pyproject.toml, either lock or this file changed since the last
# install (a stamp file in .venv records a hash of them). The locks pin every package, pip and the
# build backend included, with sha256 hashes: pip refuses any file whose hash is not in the lock.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11 or newer is required." >&2; exit 1; }

# locked_requirement NAME LOCK: NAME's pin in LOCK with its hashes, as a requirements file's lines.
locked_requirement() {
  awk -v name="$1" '$0 ~ "^" name "==" {on = 1; print; next} on && /^ +--hash=/ {print; next} {on = 0}' "$2"
}
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $PY ..."
  "$PY" -m venv .venv
fi

case "${1:-}" in
  bare) VENV_LOCK="" ;;
  test) VENV_LOCK=requirements-test.lock; venv_kind=test ;;
  "") VENV_LOCK=requirements.lock; venv_kind=run ;;
  *) echo "scripts/_venv.sh: unknown argument '$1' (expected nothing, 'test' or 'bare')" >&2; exit 2 ;;
esac

if [ -n "$VENV_LOCK" ]; then
  venv_key="$(cat setup.cfg pyproject.toml requirements.lock requirements-test.lock scripts/_venv.sh \
    | sha256sum | cut -c1-16)"
  # The test install is a superset of the run install, so its stamp satisfies scripts/run too.
  if [ ! -f ".venv/.installed-$venv_key-test" ] && [ ! -f ".venv/.installed-$venv_key-$venv_kind" ]; then
    echo "Installing the dependencies pinned in $VENV_LOCK into .venv ..."
    rm -f .venv/.installed-*
    # pip's output is shown only when it fails (the editable build always prints a notice).
    venv_pip() {
      local out
      out="$(.venv/bin/python -m pip install --quiet "$@" 2>&1)" || { echo "$out" >&2; exit 1; }
    }
    # The locked pip first: the one a new venv brings (23.2 on Python 3.11) resolves an extra
    # (weasyprint's fonttools[woff]) to the newest release instead of the pin as soon as a newer
    # one is published, and then refuses the lock. The pin and its hashes come from the lock.
    locked_requirement pip "$VENV_LOCK" > .venv/pip-requirement.txt
    venv_pip --require-hashes -r .venv/pip-requirement.txt
    venv_pip --require-hashes -r "$VENV_LOCK"
    # The project itself, editable, built by the locked setuptools; its dependencies came above.
    venv_pip --no-deps --no-build-isolation -e .
    if ! venv_check="$(.venv/bin/python -m pip check 2>&1)"; then
      echo "$venv_check" >&2
      echo "setup.cfg and $VENV_LOCK disagree (see above): run scripts/lock, then commit the locks." >&2
      exit 1
    fi
    touch ".venv/.installed-$venv_key-$venv_kind"
  fi
fi
