#!/usr/bin/env bash
# Set up daisynet on a fresh machine, then run one job:
#   bash tools/setup.sh demo [daisynet demo options]   the end-to-end demo on the built-in data
#   bash tools/setup.sh test [pytest options]          ruff, then the whole test suite
# It creates .venv from pyproject.toml (re-installing when pyproject.toml changes) and installs
# missing Debian packages when run as root; otherwise it prints the apt-get line and stops.
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
if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
  else
    echo "error: missing system packages. Install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${packages[*]}" >&2
    exit 1
  fi
fi

extras=""
[ "$job" = test ] && extras="[test]"
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
    exec .venv/bin/python -m pytest "$@"
    ;;
esac
