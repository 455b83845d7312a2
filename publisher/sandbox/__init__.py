"""The built-in Graph API sandbox (SPEC §6): a fake of Instagram's publishing endpoints on
loopback, for `api: sandbox`, `publisher sandbox` and the end-to-end tests.

    server       `SandboxServer` (start, stop, faults, posts), `serve_forever`, `main`
    handler      the HTTP side: routes, auth, faults, control endpoints
    graph        the behaviour: containers, publishing, reads, quota (no HTTP)
    views        how containers, posts and accounts read: fields, cursors
    params       POST /media parameters checked like Meta checks them (pure)
    fetch        downloading media like Instagram, refusing what it refuses
    world        the state (accounts, containers, posts), saved atomically to a JSON file
    faults       fault switches: transient 5xx, lost publish answers, ERROR/EXPIRED, quota...
    meta_errors  the error answers, in Meta's shape
"""

from publisher.sandbox.faults import Faults

# `SandboxServer` and `serve_forever` live in `publisher.sandbox.server`; importing that here
# would make `python -m publisher.sandbox.server` load the module twice.
__all__ = ["Faults"]
