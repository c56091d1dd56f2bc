"""tools/setup.sh's Debian package step, run with stand-ins for apt-get and id on PATH."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Records its arguments; fails like apt-get does while another one holds the lists lock, for
# as many calls as the file `locked_calls` says.
FAKE_APT_GET = """#!/bin/sh
echo "$*" >> "{log}"
left=$(cat "{locked}")
if [ "$left" -gt 0 ]; then
  echo $((left - 1)) > "{locked}"
  echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)"
  exit 100
fi
case "$*" in *" install "*) exit 3 ;; esac  # stop setup.sh here: the test needs nothing more
"""


def run_package_step(tmp_path: Path, locked_calls: int, wait_seconds: int):
    """Run setup.sh as 'root' on a PATH without gcc or g++, so it installs them with apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log, locked = tmp_path / "apt-get.log", tmp_path / "locked_calls"
    locked.write_text(str(locked_calls))
    (bin_dir / "apt-get").write_text(FAKE_APT_GET.format(log=log, locked=locked))
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    for fake in ("apt-get", "id"):
        (bin_dir / fake).chmod(0o755)
    for tool in ("sh", "dirname", "cat", "tee", "grep", "mktemp", "rm", "sleep"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(bin_dir), "PYTHON": sys.executable,
           "DAISYNET_APT_LOCK_WAIT_SECONDS": str(wait_seconds), "HOME": str(tmp_path)}
    result = subprocess.run([shutil.which("bash"), str(REPO / "tools" / "setup.sh"), "demo"],
                            env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def test_setup_waits_for_the_package_lock_and_says_so(tmp_path):
    result, calls = run_package_step(tmp_path, locked_calls=2, wait_seconds=60)
    assert result.returncode == 3, result.stdout + result.stderr  # the fake install's status
    # update failed twice on the lock and was retried; install got through at once.
    assert [call.split()[2] for call in calls] == ["update", "update", "update", "install"]
    assert all(call.startswith("-o DPkg::Lock::Timeout=60 ") for call in calls), calls
    assert "waiting up to 60 s" in result.stdout


def test_setup_gives_up_on_a_package_lock_held_past_the_deadline(tmp_path):
    result, calls = run_package_step(tmp_path, locked_calls=1_000, wait_seconds=0)
    assert result.returncode == 100
    assert len(calls) == 1 and " update " in f" {calls[0]} "
    assert "held the package lock for more than 0 s" in result.stderr

