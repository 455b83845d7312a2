"""`publisher plan --ics`: the plan as an iCalendar feed (RFC 5545), for a calendar app.

One event per planned or published draft (`plan.entries`): the time in UTC (the feed names
the config's zone in X-WR-TIMEZONE, so apps show it in local time), the caption's first line
as the summary, the draft's path, account, type, state and permalink in the description. A
draft's UID is made from its path relative to content_dir, so it stays the same from run to
run and an app updates the event instead of adding a second one. Built with the `icalendar`
library: escaping, line folding and the UTC form are its work, not ours.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, timedelta

from icalendar import Calendar, Event

from publisher import __version__
from publisher.clock import Clock, system_clock
from publisher.commands import plan
from publisher.commands.plan import Entry
from publisher.config import Config

DURATION = timedelta(minutes=15)  # an event needs a length; a post is a moment


def uid(entry: Entry) -> str:
    """The event's UID: stable for a draft (its path), distinct for each published job."""
    key = entry.draft if entry.source != "published" else f"{entry.draft}#{entry.when}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + "@publisher"


def feed(entries: list[Entry], config: Config) -> bytes:
    """Given the plan's entries and the config, return the iCalendar feed."""
    calendar = Calendar()
    calendar.add("prodid", f"-//publisher {__version__}//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "publisher plan")
    calendar.add("x-wr-timezone", config.timezone)
    for entry in entries:
        event = Event()
        event.add("uid", uid(entry))
        event.add("dtstamp", entry.when.astimezone(UTC))
        event.add("dtstart", entry.when.astimezone(UTC))
        event.add("dtend", entry.when.astimezone(UTC) + DURATION)
        title = entry.summary or f"{entry.type or 'draft'}: {entry.draft}"
        event.add("summary", title)
        lines = [
            f"draft: {entry.draft}",
            f"account: {entry.account}",
            f"type: {entry.type or '-'}",
            f"state: {entry.state}",
        ]
        if entry.permalink:
            lines.append(f"permalink: {entry.permalink}")
            event.add("url", entry.permalink)
        event.add("description", "\n".join(lines))
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def plan_feed(config: Config, clock: Clock = system_clock) -> bytes:
    """The iCalendar feed of the plan as it stands now: what `publisher plan --ics` prints
    and the daemon writes to `plan_file` (handed to it by `commands.run`)."""
    return feed(plan.entries(plan.gather(config, clock=clock), config), config)
