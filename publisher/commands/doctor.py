"""`publisher doctor` (SPEC §8): before any slot, every check that can stop a real publish,
one line each, with what to do when it fails.

    config      config.yaml loads (a failure is the config's own problems, exit 2)
    token       each account's token: valid, its scopes where the API tells them, days left
                where known (`commands.accounts` asks the API: one home)
    quota       each account's publishing quota is not used up
    media       a test JPEG fetched through a link of `media.host` the way Meta's fetcher
                does: no cookies, no redirect followed, 200, image/jpeg, the very bytes (not
                a login or proxy page). serve: a signed link through public_url to the
                built-in server (started here when no publisher process runs; else the
                running one answers); base_url: a JPEG of content_dir through the mirror;
                s3: a presigned link (`S3Host.check`)
    state_dir   writable (a file made, fsync'd and removed)
    clock       synchronised, where the system says so (timedatectl, systemd-timesyncd);
                "unknown" is not a failure

Like `publisher accounts`, it takes no store lock and works while the daemon runs.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from publisher import confined
from publisher.clock import Clock, system_clock
from publisher.commands import accounts
from publisher.commands.accounts import AccountRow
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.hosting import mediahost, probe
from publisher.store import lock

# The permissions publishing needs (instagram-api.md §1, Meta's Content Publishing guide,
# https://developers.facebook.com/docs/instagram-platform/content-publishing). The sandbox
# answers like an Instagram Login token.
PUBLISH_SCOPES = {
    "instagram": ("instagram_business_basic", "instagram_business_content_publish"),
    "facebook": ("instagram_basic", "instagram_content_publish", "pages_read_engagement"),
    "sandbox": ("instagram_business_basic", "instagram_business_content_publish"),
}
TOKEN_WARN_DAYS = 7
TIMESYNC_MARKER = Path("/run/systemd/timesync/synchronized")

Runner = Callable[[list[str]], str | None]


@dataclass(frozen=True)
class Check:
    """One line of the report: `fix` says what to do when `ok` is False (else empty)."""

    check: str
    ok: bool
    detail: str
    fix: str = ""


def run(config: Config, *, clock: Clock = system_clock) -> list[Check]:
    """Given a loaded config, run every check and return them in order. Never raises for a
    failed check: it becomes a Check with ok False."""
    report = [config_check(config)]
    for row in accounts.check(config, clock=clock):
        report += token_checks(row)
    report.append(media_check(config, clock=clock))
    report.append(state_dir_check(config.state_dir))
    report.append(clock_check())
    return report


def render(report: list[Check]) -> str:
    """One line per check: `ok    name: detail`, or `FAIL  name: detail; fix: ...`."""
    lines = []
    for item in report:
        line = f"{'ok' if item.ok else 'FAIL':<4}  {item.check}: {item.detail}"
        if not item.ok and item.fix:
            line += f"; fix: {item.fix}"
        lines.append(line)
    failed = sum(1 for item in report if not item.ok)
    lines.append(f"{len(report)} checks, {failed} failed")
    return "\n".join(lines)


def as_json(report: list[Check]) -> str:
    """`publisher doctor --json`: an array of {check, ok, detail, fix} (fix null when ok)."""
    items = [
        {"check": c.check, "ok": c.ok, "detail": c.detail, "fix": c.fix or None} for c in report
    ]
    return json.dumps(items, indent=2, ensure_ascii=False)


# --- the checks ---------------------------------------------------------------------------


def config_check(config: Config) -> Check:
    names = ", ".join(config.accounts)
    return Check(
        "config",
        True,
        f"{config.config_path} loads: account(s) {names}; media.host {config.media.host}, "
        f"videos by {config.media.video_upload}",
    )


def config_failed(problems: list[str]) -> Check:
    """The config check when config.yaml does not load (the command then exits 2)."""
    return Check(
        "config",
        False,
        "; ".join(problems) or "config.yaml does not load",
        "fix each key named, then run `publisher validate`",
    )


def token_checks(row: AccountRow) -> list[Check]:
    """The token, scopes and quota lines of one account (`publisher accounts`' row)."""
    name = f"account {row.name}"
    if not row.valid:
        return [Check(f"{name}: token", False, row.reason or "not valid", _token_fix(row.api))]
    who = f"@{row.username}" if row.username else "the account"
    if row.token_expires is None:
        lasts = "expiry unknown (Meta tells it only through a URL with the token)"
    else:
        lasts = f"expires {row.token_expires.date().isoformat()} ({row.days_left} days left)"
    checks = []
    if row.days_left is not None and row.days_left < 0:
        checks.append(Check(f"{name}: token", False, f"expired: {lasts}", _token_fix(row.api)))
    else:
        soon = row.days_left is not None and row.days_left <= TOKEN_WARN_DAYS
        note = " (soon: renew it)" if soon else ""
        checks.append(Check(f"{name}: token", True, f"valid for {who}, {lasts}{note}"))
    if row.scopes:
        missing = [s for s in PUBLISH_SCOPES.get(row.api, ()) if s not in row.scopes]
        checks.append(
            Check(
                f"{name}: scopes",
                not missing,
                f"missing {', '.join(missing)}" if missing else ", ".join(row.scopes),
                "log in again granting those permissions and give publisher the new token"
                if missing
                else "",
            )
        )
    if row.quota_used is not None and row.quota_total is not None:
        full = row.quota_used >= row.quota_total
        checks.append(
            Check(
                f"{name}: quota",
                not full,
                f"{row.quota_used}/{row.quota_total} posts in the last 24 h",
                "wait: drafts go out once the 24 h window frees a post" if full else "",
            )
        )
    else:
        checks.append(Check(f"{name}: quota", True, f"unknown ({row.reason or 'not read'})"))
    return checks


def _token_fix(api: str) -> str:
    if api == "instagram":
        return "get a new long-lived token (Instagram Login) and give it to publisher"
    if api == "facebook":
        return "log in with Facebook again for a new token and give it to publisher"
    return "check accounts.<name> in config.yaml and the token's source"


def media_check(config: Config, *, clock: Clock = system_clock) -> Check:
    """Fetch a test JPEG through `media.host` as Meta would (module doc)."""
    name = "media host"
    host = config.media.host
    try:
        if host == "s3":
            from publisher.hosting import s3

            problem = s3.make(config).check()
            if problem is None:
                return Check(name, True, "a presigned test link answers 200 image/jpeg")
            return Check(name, False, problem, "see above: media.s3 in config.yaml")
        if host == "base_url":
            return _mirror_check(config)
        return _serve_check(config, clock)
    except PublisherError as exc:
        return Check(name, False, str(exc), "fix the key it names in config.yaml")


def _serve_check(config: Config, clock: Clock) -> Check:
    name = "media host"
    public = config.media.public_url
    server = mediahost.ServeHost(
        content_dir=config.content_dir,
        state_dir=config.state_dir,
        listen=config.media.listen_address,
        public_url=public,
        link_ttl=config.media.link_ttl,
        clock=clock,
    )
    running = lock.held(config.state_dir)
    if not running:
        try:
            server.start()
        except OSError as exc:
            return Check(
                name,
                False,
                f"media.listen {config.media.listen} cannot be used "
                f"({exc.strerror or exc}) and no publisher process runs here",
                "stop the program on that port, or choose another media.listen (and public_url)",
            )
    try:
        with probe.test_jpeg(mediahost.cache_dir(config)) as (path, data):
            url = server.url_for(path)
            problem = probe.fetch_problem(url, data, what=f"media.public_url ({public})")
    finally:
        server.stop()
    who = "the running publisher's" if running else "the built-in"
    if problem is None:
        return Check(name, True, f"a signed test link through {public} reached {who} server")
    return Check(
        name,
        False,
        problem,
        "set media.public_url to the address at which media.listen "
        f"({config.media.listen}) is reachable from the internet (port forwarding, a "
        "reverse proxy or a tunnel), or use media.host: s3",
    )


def _mirror_check(config: Config) -> Check:
    name = "media host"
    public = config.media.public_url
    sample = probe.a_jpeg(config.content_dir)
    if sample is None:
        return Check(name, True, f"unknown: no JPEG in content_dir to fetch through {public}")
    with confined.open_beneath(config.content_dir, sample) as handle:
        data = handle.read()
    url = mediahost.BaseUrlHost(content_dir=config.content_dir, public_url=public).url_for(sample)
    problem = probe.fetch_problem(url, data, what=f"media.public_url ({public})")
    if problem is None:
        return Check(name, True, f"{sample.name} answers through {public}")
    return Check(
        name,
        False,
        problem,
        "media.public_url must be where content_dir is mirrored, file for file, without "
        "login; or use media.host: serve or s3",
    )


def state_dir_check(state_dir: Path) -> Check:
    """state_dir can be made and written (a file created, fsync'd, removed)."""
    name = "state_dir"
    probe = state_dir / f".doctor-{secrets.token_hex(4)}"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"publisher doctor\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        return Check(
            name,
            False,
            f"{state_dir} is not writable: {exc.strerror or exc}",
            f"make {state_dir} a folder the user running publisher owns "
            f"(chown, chmod u+rwx), or set state_dir elsewhere",
        )
    return Check(name, True, f"{state_dir} is writable")


def clock_check(run_command: Runner | None = None, marker: Path = TIMESYNC_MARKER) -> Check:
    """The clock's sync as the system tells it: timedatectl's NTPSynchronized, else
    systemd-timesyncd's marker file; unknown (not a failure) when neither says."""
    name = "clock"
    answer = (run_command or _run)(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if answer is not None and answer.strip() in ("yes", "no"):
        if answer.strip() == "yes":
            return Check(name, True, "synchronised (timedatectl)")
        return Check(
            name,
            False,
            "not synchronised (timedatectl): posts may go out early or late, and signed "
            "links or S3 signatures may be refused",
            "sudo timedatectl set-ntp true (or start chrony / ntpd)",
        )
    if marker.exists():
        return Check(name, True, "synchronised (systemd-timesyncd)")
    return Check(name, True, "unknown: the system does not say whether the clock is synchronised")


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None
