"""Notifications (SPEC §8): tell the user, through Apprise, when a draft needs them.

    change.py    what happened (`Change`, `Event`) and which job transitions are worth telling
    settings.py  the `notify:` section of config.yaml (`Notify`), URLs checked at load time
    messages.py  pure: a batch of changes → titles and bodies, grouped, redacted
    targets.py   Apprise at the edge: a `notify.urls` entry → a `Target` that sends, quietly
    sender.py    `Notifier`: a background thread, a queue, a grouping window, retries

The daemon calls `Notifier.job_changed(before, after)` after a job's new state is recorded;
it returns at once and never raises, so a notifier that is slow or down never touches a publish.
"""
