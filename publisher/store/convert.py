"""From the previous layout of state_dir to TinyDB's, at the first open by the new version.

The previous version wrote its own JSON store. jobs.json and archive/YYYY-MM.json had TinyDB's
shape, `{"jobs": {key: document}}`, but each document was keyed by its job id, where TinyDB
keys documents by integer ids (the job id stays a field of the document). archive/index.json
was `{"jobs": {"<job id>": ["<draft>", "YYYY-MM"]}}`.

Reading accepts both layouts (a reader that does not own state_dir, such as `publisher status`,
may meet a state_dir its daemon has not converted yet): the documents are numbered 1, 2, ...
in file order. The owner of state_dir writes each file in TinyDB's layout at its first open,
after keeping the old file next to it as `<name>.pre-tinydb`: nothing is lost, and a kill -9
in the middle leaves a file the next open converts again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.store import atomicfile

if TYPE_CHECKING:
    from publisher.store.storage import AtomicStorage

log = logging.getLogger(__name__)

BACKUP_SUFFIX = ".pre-tinydb"


def by_document_id(documents: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Given a table's documents as read from a file, return them keyed by TinyDB document id,
    and whether the file was in the previous layout (keyed by job id; then numbered in file
    order). Raise ValueError if a key is neither a document id nor its document's job id.

    (A previous-layout file whose job ids all look like integers reads the same either way:
    each job keeps its id, and its key is a valid document id.)
    """
    if all(_is_document_id(key) for key in documents):
        return documents, False
    for key, document in documents.items():
        if document.get("id") == key:
            continue
        if _is_document_id(key):
            raise ValueError(f"its keys mix TinyDB document ids ({json.dumps(key)}) and job ids")
        raise ValueError(
            f"the key {json.dumps(key)} is neither a TinyDB document id nor the id of its "
            f"job ({json.dumps(document.get('id'))})"
        )
    return {str(number): document for number, document in enumerate(documents.values(), 1)}, True


def is_previous_index(path: Path) -> bool:
    """Given archive/index.json, return whether it is in the previous layout
    (`{"jobs": {"<job id>": ["<draft>", "YYYY-MM"]}}`)."""
    try:
        raw = json.loads(path.read_bytes())
        entries = raw["jobs"]
        return isinstance(entries, dict) and all(
            isinstance(entry, list) and len(entry) == 2 for entry in entries.values()
        )
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return False


def upgrade(storage: AtomicStorage) -> Path:
    """Given a storage read from a previous-layout file, keep that file as a backup next to it
    and write the storage's tables in TinyDB's layout; return the backup's path.
    Raise StoreError (the file unchanged) or OSError if a write fails."""
    backup = keep_old(storage.path)
    storage.write(storage.read() or {})
    log.info(
        "%s converted to TinyDB's layout; the previous file is kept as %s", storage.path, backup
    )
    return backup


def keep_old(path: Path) -> Path:
    """Given a file about to be rewritten in the new layout, copy it (atomically) to
    `<name>.pre-tinydb` and return that path. A backup already there with other bytes is kept
    too: the copy then goes to `<name>.pre-tinydb.2`, `.3`, ..."""
    data = path.read_bytes()
    number = 1
    while True:
        suffix = BACKUP_SUFFIX if number == 1 else f"{BACKUP_SUFFIX}.{number}"
        backup = path.with_name(path.name + suffix)
        try:
            if backup.read_bytes() == data:
                return backup  # a conversion killed after its backup: the copy is there
        except FileNotFoundError:
            atomicfile.write_bytes(backup, data)
            return backup
        number += 1


def _is_document_id(key: str) -> bool:
    return key.isascii() and key.isdecimal()
