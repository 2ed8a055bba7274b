"""Partner-given text (file names, warehouse codes) as parts of our own names: file names, partition keys.

Text made only of `A-Z a-z 0-9 _ . -` (and no `...`) is used as it is, so ordinary codes and
drop file names read as themselves. Anything else is percent-encoded byte by byte (UTF-8), every
`.` included, so the result never holds a path separator, a control character or `...` (which
Dagster refuses in partition keys). The encoding is reversible (`decode`), and since plain text
never holds `%`, two different texts never share an encoding.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote

_PLAIN = re.compile(r"^[A-Za-z0-9_.-]+$")
_KEEP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# A file name must stay under the file system's 255 bytes; a longer encoding keeps its head and
# gains `~` (never produced by `encode`) and a digest of the whole text.
MAX_FILE_NAME_PART = 120


def encode(text: str) -> str:
    if _PLAIN.fullmatch(text) and "..." not in text:
        return text
    return "".join(c if c in _KEEP else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def decode(part: str) -> str:
    return unquote(part)


def file_name_part(text: str) -> str:
    """`encode(text)`, cut to a length every file system takes."""
    part = encode(text)
    if len(part) <= MAX_FILE_NAME_PART:
        return part
    head = re.sub(r"%[0-9A-F]?$", "", part[: MAX_FILE_NAME_PART - 18])
    return f"{head}~{hashlib.sha256(text.encode()).hexdigest()[:16]}"
