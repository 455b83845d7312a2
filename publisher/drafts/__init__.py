"""Drafts: the YAML files a user writes, found, read and checked (SPEC §4), and the status
block the daemon writes back into them (SPEC §5).

    drafts.discover(content_dir)   every draft file under content_dir, sorted
    drafts.load(path, config)      -> Loaded: the Draft (when valid), its problems, the
                                      fingerprint and the status block as read

Modules: `files` (which files are drafts: the one rule), `parse` (reading one file),
`checks` (its fields), `medialist` (the `media:` list, items written as mappings),
`options` (alt_text, user_tags, usernames), `publish_at`, `media` (where each media file
is), `images` and `videos` (whether Instagram takes it; Meta's video rules are
`hosting.videospec`), `limits` (Instagram's numbers), `captions` (a
caption as Instagram reads it back: the key that recognises a post), `model` (Draft,
Loaded, ...), `statusblock` (the daemon's own block) and `writeback` (a job's status
written into its draft).
"""

from __future__ import annotations

from publisher.drafts.files import discover, is_draft_name, is_draft_path
from publisher.drafts.media import MediaItem
from publisher.drafts.model import Draft, Loaded, UserTag, caption_hash
from publisher.drafts.parse import fingerprint, load, user_bytes
from publisher.drafts.publish_at import parse_publish_at

__all__ = [
    "Draft",
    "Loaded",
    "MediaItem",
    "UserTag",
    "caption_hash",
    "discover",
    "fingerprint",
    "is_draft_name",
    "is_draft_path",
    "load",
    "parse_publish_at",
    "user_bytes",
]
