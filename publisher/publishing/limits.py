"""Each account's publishing limit as Meta last gave it (`content_publishing_limit`,
`config.quota_total`), kept in `state_dir/limits.json` so that `publisher plan` warns
against the real figure instead of a guess: Meta's own pages say 50 in one place and 100 in
another (instagram-api.md §5).

Written (atomically) by the publishing process when a read gives a figure that differs from
the one kept; read by anyone, without the state_dir lock. A file that is missing or cannot
be read means "not known yet": the plan then assumes `planning.slots.DEFAULT_QUOTA`.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher.store import atomicfile

log = logging.getLogger(__name__)

FILE = "limits.json"
FORMAT_VERSION = 1


def totals(state_dir: Path) -> dict[str, int]:
    """Given the state_dir, return each account's publishing limit (posts per window) as
    last read from Meta; accounts never read are absent. Never raises for a bad file."""
    return {name: entry["quota_total"] for name, entry in _read(state_dir / FILE).items()}


def remember(state_dir: Path, account: str, total: int, duration_s: int, now: datetime) -> bool:
    """Keep `account`'s limit (`total` posts per `duration_s` seconds, read at `now`) unless
    the file already holds that figure; return True when the file was written. Raise
    OSError if it cannot be written."""
    path = state_dir / FILE
    entries = _read(path)
    kept = entries.get(account)
    if kept is not None and (kept["quota_total"], kept["quota_duration"]) == (total, duration_s):
        return False
    entries[account] = {
        "quota_total": total,
        "quota_duration": duration_s,
        "read_at": now.isoformat(timespec="seconds"),
    }
    document = {"version": FORMAT_VERSION, "accounts": entries}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomicfile.write_bytes(path, json.dumps(document, indent=1, sort_keys=True).encode())
    return True


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.debug("%s cannot be read (%s); the publishing limits are not known", path, exc)
        return {}
    accounts = document.get("accounts") if isinstance(document, dict) else None
    if not isinstance(accounts, dict):
        return {}
    return {
        str(name): entry
        for name, entry in accounts.items()
        if isinstance(entry, dict)
        and _count(entry.get("quota_total")) is not None
        and _count(entry.get("quota_duration")) is not None
    }


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
