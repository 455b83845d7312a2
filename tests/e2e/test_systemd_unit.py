"""systemd/publisher.service and the template publisher@.service (one instance per site): a
lint that always runs, and systemd-analyze's own checks.

systemd-analyze needs no running systemd for `verify` and `security --offline=true`. In CI
(CI set) a missing systemd-analyze is a failure, not a skip: .ci/run installs it.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

UNITS = [REPO / "systemd" / "publisher.service", REPO / "systemd" / "publisher@.service"]
INSTANCE = "shop"  # the template is verified as the instance publisher@shop
MAX_EXPOSURE = 2.0


def settings(text: str) -> list[tuple[str, str, str]]:
    """Return (section, key, value) for every assignment of a unit file."""
    found, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


@pytest.fixture(params=UNITS, ids=lambda unit: unit.name)
def unit(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


def values(unit: Path, key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in settings(unit.read_text()) if s == section and k == key]


def test_no_secret_in_the_environment(unit: Path) -> None:
    for _section, key, value in settings(unit.read_text()):
        if key.startswith("Environment") or key == "PassEnvironment":
            assert not re.search(r"TOKEN|SECRET|PASSWORD", value, re.IGNORECASE), (key, value)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("Restart", "on-failure"),
        ("KillMode", "mixed"),
        ("User", "publisher"),
        ("UMask", "0007"),
        ("StateDirectoryMode", "2770"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
    ],
)
def test_service_setting(unit: Path, key: str, expected: str) -> None:
    assert values(unit, key) == [expected]


@pytest.mark.parametrize(
    "key",
    ["WatchdogSec", "ExecReload", "LoadCredential", "ReadWritePaths", "StateDirectory"],
)
def test_service_setting_present(unit: Path, key: str) -> None:
    assert values(unit, key) and all(values(unit, key))


def test_no_dynamic_user_and_restart_storms_bounded(unit: Path) -> None:
    # DynamicUser recycles UIDs: files it writes into the drafts would belong to a stranger.
    assert values(unit, "DynamicUser") == []
    assert values(unit, "StartLimitBurst", "Unit") and values(unit, "StartLimitIntervalSec", "Unit")
    assert values(unit, "WantedBy", "Install") == ["multi-user.target"]


def test_the_credential_names_match_what_config_reads(unit: Path) -> None:
    # config.py reads $CREDENTIALS_DIRECTORY/<account>-token.
    for credential in values(unit, "LoadCredential"):
        name, _, path = credential.partition(":")
        assert name.endswith("-token") and path.startswith("/"), credential


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing in CI (.ci/run installs the systemd package)")
        pytest.skip("systemd-analyze is not installed here (CI runs this check)")
    return found


def runnable_copy(unit: Path, tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at an executable that exists here (`verify` checks
    that the program exists; the rest of the unit is verified as shipped)."""
    text = unit.read_text()
    shipped = values(unit, "ExecStart")[0].split()[0]
    copy = tmp_path / unit.name.replace("@.", f"@{INSTANCE}.")
    copy.write_text(text.replace(f"ExecStart={shipped}", f"ExecStart={sys.executable}"))
    return copy


def test_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    # Offline, verify does not resolve User=; the unit, its section names, keys and values
    # and the executable are what it checks.
    copy = runnable_copy(unit, tmp_path)
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", "--generators=no", copy],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert copy.name not in result.stderr, result.stderr  # no warning about us


def test_systemd_analyze_security_exposure(unit: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            systemd_analyze(),
            "security",
            "--offline=true",
            f"--threshold={int(MAX_EXPOSURE * 10)}",
            runnable_copy(unit, tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1

MDWE_PROBE = f"""
import ctypes, io, mmap, sys, tempfile
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:
    sys.exit("PR_SET_MDWE failed")
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("the rule is not enforced: a writable executable mapping was allowed")
except PermissionError:
    pass
import apscheduler.schedulers.background, httpx, pydantic, tinydb, yaml
import apprise, av, boto3, pillow_heif
from PIL import Image
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
Image.new("RGB", (8, 8)).save(io.BytesIO(), "JPEG")
with tempfile.TemporaryDirectory() as folder:
    observer = Observer()
    observer.schedule(FileSystemEventHandler(), folder, recursive=True)
    observer.start()
    observer.stop()
    observer.join()
print("ok")
"""


def test_our_libraries_run_without_writable_executable_memory() -> None:
    # MemoryDenyWriteExecute=yes kills a process that maps memory writable and executable
    # (a JIT). The kernel's PR_SET_MDWE (Linux 6.3+) enforces the same rule on one process.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) < 0:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
    result = subprocess.run(
        [sys.executable, "-c", MDWE_PROBE], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_template_instances_share_nothing() -> None:
    # one daemon per site folder: its config, drafts, state and tokens are the instance's own
    template = UNITS[1]
    for key in ("ExecStart", "StateDirectory", "ReadWritePaths", "LoadCredential"):
        assert values(template, key) and all("%i" in value for value in values(template, key))
