"""`publisher doctor` from outside (SPEC §8): the installed command on a site made by
`publisher init`, with and without the daemon running. Nothing here imports publisher."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.processes import DaemonProcess, clean_env

pytestmark = pytest.mark.slow


def _executable() -> str:
    beside = Path(sys.executable).with_name("publisher")
    found = str(beside) if beside.exists() else shutil.which("publisher")
    assert found, "the `publisher` console script is not installed"
    return found


PUBLISHER = _executable()


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PUBLISHER, *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """`publisher init`, its media server on a free port (public_url the same address)."""
    result = cli("init", "site", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    config = site / "config.yaml"
    text = config.read_text(encoding="utf-8")
    assert "127.0.0.1:8765" in text
    config.write_text(text.replace("127.0.0.1:8765", f"127.0.0.1:{free_port()}"), encoding="utf-8")
    return site


def set_public_url(site: Path, url: str) -> None:
    config = site / "config.yaml"
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    [index] = [i for i, line in enumerate(lines) if line.lstrip().startswith("public_url:")]
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index] = f"{indent}public_url: {url}\n"
    config.write_text("".join(lines), encoding="utf-8")


def passed(result: subprocess.CompletedProcess[str]) -> None:
    """Every check passed: exit 0. Only the machine's own clock may fail a good setup (a
    box whose timedatectl says it is not synchronised): then exit 1 for that line alone."""
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert [line for line in failed if not line.startswith("FAIL  clock:")] == [], result.stdout
    assert result.returncode == (1 if failed else 0), result.stdout + result.stderr


def test_doctor_passes_a_good_sandbox_setup(site: Path) -> None:
    result = cli("doctor", cwd=site)
    passed(result)
    lines = result.stdout.splitlines()
    for name in ("config", "account main: token", "account main: quota", "media host"):
        assert any(line.startswith(f"ok    {name}:") for line in lines), name
    assert "Traceback" not in result.stderr


def test_doctor_fails_naming_public_url_when_it_points_nowhere(site: Path) -> None:
    set_public_url(site, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    result = cli("doctor", cwd=site)
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("FAIL") and not line.startswith("FAIL  clock:")
    ]
    assert line.startswith("FAIL  media host:") and "public_url" in line and "fix:" in line


def test_doctor_json_is_an_array_of_check_ok_detail_fix(site: Path) -> None:
    set_public_url(site, f"http://127.0.0.1:{free_port()}")
    result = cli("doctor", "--json", cwd=site)
    assert result.returncode == 1
    items = json.loads(result.stdout)
    assert isinstance(items, list) and len(items) >= 6
    for item in items:
        assert set(item) == {"check", "ok", "detail", "fix"}
        assert isinstance(item["ok"], bool) and isinstance(item["detail"], str)
        assert (item["fix"] is None) == item["ok"]
    [failed] = [item for item in items if not item["ok"] and item["check"] != "clock"]
    assert failed["check"] == "media host" and "public_url" in failed["detail"]


def test_doctor_exits_2_on_a_config_error(site: Path) -> None:
    with (site / "config.yaml").open("a", encoding="utf-8") as config:
        config.write("bogus: 1\n")
    result = cli("doctor", cwd=site)
    assert result.returncode == 2
    assert "bogus" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def running(site: Path) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess([PUBLISHER, "run"], cwd=site, log=site / "daemon.log")
    try:
        yield daemon.wait_ready()
    finally:
        daemon.stop()


def test_doctor_uses_the_running_daemon_s_media_server(running: DaemonProcess) -> None:
    site = running.log.parent
    result = cli("doctor", cwd=site)
    passed(result)
    assert "reached the running publisher's server" in result.stdout
    assert running.alive()
