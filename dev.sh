#!/usr/bin/env bash
# One entry point from a fresh clone:
#   ./dev.sh demo   set up, create a seeded demo database, start the console
#   ./dev.sh test   set up, run the whole test suite
#   ./dev.sh bench  set up, run the benchmarks
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV="${WBO_VENV:-.venv}"

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  # Reinstall only when the dependency list changed since the last install.
  local stamp="$VENV/.wbo-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[test]"
    touch "$stamp"
  fi
}

cmd="${1:-demo}"
shift || true
case "$cmd" in
  demo)
    setup
    exec "$VENV/bin/wbo-tui" demo "$@"
    ;;
  test)
    setup
    # Quiet by default, once: a caller's own -q on top would make it -qq, which drops
    # pytest's summary line; a caller who sets the verbosity (-q, -v) gets just that.
    verbosity=(-q)
    for arg in "$@"; do
      case "$arg" in
        --) break ;;
        -q* | -v* | --quiet | --verbose | --verbosity=*) verbosity=() ;;
      esac
    done
    exec "$VENV/bin/python" -m pytest ${verbosity[@]+"${verbosity[@]}"} "$@"
    ;;
  bench)
    setup
    exec "$VENV/bin/python" -m bench "$@"
    ;;
  *)
    echo "usage: ./dev.sh demo|test|bench [args...]" >&2
    exit 2
    ;;
esac
