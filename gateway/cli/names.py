"""Turning any label (a key in a client's configuration) into a name the gateway accepts.

The gateway's rule (gateway/models.py): lowercase letters, digits and dashes, starting with a letter, not
ending with a dash, at most 52 characters, and not one of the reserved names (gateway/names.py).
"""

from __future__ import annotations

import re
import unicodedata

from gateway.names import MAX_NAME_LENGTH, RESERVED_NAMES

NAME_RE = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
FALLBACK = "mcp-server"


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and NAME_RE.fullmatch(name) is not None and name not in RESERVED_NAMES


def normalise_name(label: str) -> str:
    """A valid name as close to ``label`` as possible: ``"GitHub Copilot"`` -> ``github-copilot``,
    ``"@scope/server.fs"`` -> ``scope-server-fs``, ``"9lives"`` -> ``mcp-9lives``, ``"gateway"`` ->
    ``gateway-mcp``. Always valid (:func:`is_valid_name`), never empty."""
    # Accents go (é -> e), then every run of other characters becomes one dash; dashes already there stay
    # (a--b is a valid name). Camel case is not split: it would turn GitHub into git-hub.
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9-]+", "-", ascii_text.lower()).strip("-")
    if not name:
        return FALLBACK
    if not name[0].isalpha():
        name = f"mcp-{name}"
    name = name[:MAX_NAME_LENGTH].rstrip("-")
    if name in RESERVED_NAMES:
        name = f"{name}-mcp"
    return name


def unique_names(labels: list[str]) -> dict[str, str]:
    """Each label's normalised name, with ``-2``, ``-3``... where two labels normalise alike."""
    taken: set[str] = set()
    names: dict[str, str] = {}
    for label in labels:
        base = normalise_name(label)
        name, counter = base, 1
        while name in taken:
            counter += 1
            suffix = f"-{counter}"
            name = base[: MAX_NAME_LENGTH - len(suffix)].rstrip("-") + suffix
        taken.add(name)
        names[label] = name
    return names
