"""Captions as Meta reads them back, and the comparison that survives what it changes.

publisher recognises a post whose `media_publish` answer was lost by its caption (the post
listed by `GET /{ig-user-id}/media` with the caption the job was sent with). Meta does not
always return the caption as it was sent (instagram-api.md, "Added 2026-12-02"):

- the "@" of mentions is left out ("@jane" reads "jane") unless the app user can perform
  admin-equivalent tasks on the app. Source: IG Media reference, `caption` field ("The @
  symbol is excluded, unless the app user can perform admin-equivalent tasks on the app."),
  https://developers.facebook.com/docs/instagram-platform/reference/instagram-media

Nothing else is documented. So `comparable` drops every "@" (whether Meta drops only the
mentions' or all of them, both sides then read alike), then applies what publisher always
did: Unicode NFC and no surrounding whitespace. The "@" goes first: removing it after NFC
could leave two characters apart that NFC would have joined on the other side.

Two captions that differ only in their "@" are the same post to publisher; reconciliation
still needs one post, and only one, with that caption since the request.
"""

from __future__ import annotations

import hashlib
import unicodedata


def comparable(caption: str) -> str:
    """Given a caption (as sent, or as Meta reads it back), return the text both read as:
    without "@", NFC-normalised, without surrounding whitespace."""
    return unicodedata.normalize("NFC", caption.replace("@", "")).strip()


def fingerprint(caption: str) -> str:
    """Given a caption, return the sha256 (hex) of its `comparable` text: the key a job keeps
    to recognise its post on Instagram after a lost answer or a crash."""
    return hashlib.sha256(comparable(caption).encode()).hexdigest()


def matches(read_back: str, kept: str) -> bool:
    """Given a caption as Meta read it back and the fingerprint a job kept, return True when
    they are the same caption. A job stored by an earlier publisher kept the hash of its
    caption with the "@" in it: that still matches a read-back that kept them."""
    legacy = hashlib.sha256(unicodedata.normalize("NFC", read_back).strip().encode()).hexdigest()
    return kept in (fingerprint(read_back), legacy)
