#!/usr/bin/env bash
# Set up daisynet on a fresh machine, then run one job:
#   bash tools/setup.sh demo [daisynet demo options]   the end-to-end demo on the built-in data
#   bash tools/setup.sh test [pytest options]          ruff, then the whole test suite (in parallel)
# It creates .venv from pyproject.toml (re-installing when pyproject.toml changes) and installs
# missing Debian packages when run as root (waiting up to DAISYNET_APT_LOCK_WAIT_SECONDS, default
# 300, for another apt-get to release the package lock); otherwise it prints the apt-get line
# and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

job="${1:-}"
case "$job" in
  demo | test) shift ;;
  *) echo "usage: bash tools/setup.sh demo|test [options passed to the job]" >&2; exit 2 ;;
esac

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null; then
  echo "error: $python not found; install Python 3.11 or newer (or set PYTHON=...)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: daisynet needs Python >= 3.11; $python is $("$python" -V 2>&1)." >&2
  echo "       Set PYTHON=/path/to/python3.11 (or newer) and run this again." >&2
  exit 1
fi

# Debian packages: venv support, headers and compilers to build cmsisdsp from its sdist, g++ for
# the training's C++ loss and gradient (training/native_objective.py; training needs it); for
# the tests also the Cortex-M toolchain with newlib and libstdc++, and QEMU (the emulated
# Cortex-M7). g++ also builds the native firmware.
packages=()
"$python" -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
"$python" -c 'import os, sysconfig; os.stat(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
  2>/dev/null || packages+=(python3-dev)
command -v gcc >/dev/null || packages+=(gcc)
command -v g++ >/dev/null || packages+=(g++)
if [ "$job" = test ]; then
  command -v arm-none-eabi-g++ >/dev/null || packages+=(gcc-arm-none-eabi)
  m7="-mcpu=cortex-m7 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard"  # platformio.ini [daisy]
  # -print-file-name echoes the bare name when the library is not installed.
  # shellcheck disable=SC2086
  case "$(arm-none-eabi-gcc $m7 -print-file-name=librdimon.a 2>/dev/null)" in
    /*) ;;
    *) packages+=(libnewlib-arm-none-eabi) ;;
  esac
  # shellcheck disable=SC2086
  case "$(arm-none-eabi-g++ $m7 -print-file-name=libstdc++.a 2>/dev/null)" in
    /*) ;;
    *) packages+=(libstdc++-arm-none-eabi-newlib) ;;
  esac
  command -v qemu-system-arm >/dev/null || packages+=(qemu-system-arm)
fi
# Another apt-get (or unattended-upgrades) may hold the package locks: wait for them, bounded.
# apt-get install waits for the dpkg lock itself (DPkg::Lock::Timeout, apt >= 1.9.11); update's
# lists lock has no such option, so a call that failed on a lock is retried until the deadline.
apt_lock_wait_seconds="${DAISYNET_APT_LOCK_WAIT_SECONDS:-300}"
apt_get() {
  local deadline=$((SECONDS + apt_lock_wait_seconds)) log status said_waiting=""
  log="$(mktemp)"
  while true; do
    status=0
    apt-get -o "DPkg::Lock::Timeout=$apt_lock_wait_seconds" "$@" 2>&1 | tee "$log" || status=$?
    if [ "$status" = 0 ] || ! grep -q "Could not get lock" "$log"; then
      rm -f "$log"
      return "$status"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      rm -f "$log"
      echo "error: another package manager held the package lock for more than" \
        "${apt_lock_wait_seconds} s; run this again when it has finished" >&2
      return "$status"
    fi
    if [ -z "$said_waiting" ]; then
      echo "another package manager holds the lock; waiting up to ${apt_lock_wait_seconds} s"
      said_waiting=1
    fi
    sleep 1
  done
}
if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${packages[*]}"
    echo "(waiting up to ${apt_lock_wait_seconds} s if another apt-get holds the package lock)"
    apt_get update -qq
    DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${packages[@]}"
  else
    echo "error: missing system packages. Install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${packages[*]}" >&2
    exit 1
  fi
fi

extras=""
# The tests run a tiny device suite (tools/measure/suite/), so they need its extra too.
[ "$job" = test ] && extras="[test,suite]"
stamp=".venv/.daisynet-installed"
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras"
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$python" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing daisynet$extras and its dependencies into .venv (TensorFlow: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".$extras"
  echo "$wanted" > "$stamp"
fi

case "$job" in
  demo) exec .venv/bin/daisynet demo "$@" ;;
  test)
    .venv/bin/ruff check .
    # One pytest worker per core, up to 4 (each holds its own TensorFlow); a test file stays on
    # one worker so its module fixtures are built once. `-n 0` after `test` runs in one process.
    workers=$(nproc 2>/dev/null || echo 1)
    exec .venv/bin/python -m pytest -n "$((workers < 4 ? workers : 4))" --dist loadfile "$@"
    ;;
esac
