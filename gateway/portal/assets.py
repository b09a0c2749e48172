"""The portal's files, shipped inside the package (``gateway/portal/static``) and read once into memory.

A request names a file by a relative path; only plain names (letters, digits, ``.``, ``_``, ``-``, no
leading dot) joined by ``/`` are looked up, and the result must still lie inside the directory, so no
``..``, encoded or not, no backslash and no absolute path can reach anything else.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_DIR = STATIC_DIR / "assets"
INDEX_FILE = STATIC_DIR / "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
MAX_DEPTH = 6


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _load(path: Path) -> Asset:
    body = path.read_bytes()
    return Asset(body, CONTENT_TYPES[path.suffix], '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def is_safe_relative(relative: str) -> bool:
    segments = relative.split("/")
    return 0 < len(segments) <= MAX_DEPTH and all(_SEGMENT.fullmatch(s) and ".." not in s for s in segments)


def find_asset(relative: str) -> Asset | None:
    """The file under ``assets/`` at ``relative``, or None: unsafe, missing, or of a type not served."""
    if not is_safe_relative(relative):
        return None
    path = (ASSETS_DIR / relative).resolve()
    if not path.is_relative_to(ASSETS_DIR) or not path.is_file() or path.suffix not in CONTENT_TYPES:
        return None
    return _cached(path)


@cache
def _cached(path: Path) -> Asset:
    # Keyed by real files only (the checks above come first), so requests cannot grow the cache.
    return _load(path)


@cache
def index_page() -> Asset:
    return _load(INDEX_FILE)
