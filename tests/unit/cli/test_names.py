"""Name normalisation for ``import``: any label becomes a valid gateway name, valid names stay as they are."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.cli.names import is_valid_name, normalise_name, unique_names
from gateway.models import NAME_RE
from gateway.names import MAX_NAME_LENGTH, RESERVED_NAMES


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("GitHub Copilot", "github-copilot"),
        ("@scope/server.fs", "scope-server-fs"),
        ("9lives", "mcp-9lives"),
        ("gateway", "gateway-mcp"),
        ("Brave Search!!", "brave-search"),
        ("Café", "cafe"),
        ("___", "mcp-server"),
        ("", "mcp-server"),
        ("a" * 80, "a" * MAX_NAME_LENGTH),
        ("x" * 51 + "-y", "x" * 51),
    ],
)
def test_labels_become_names(label: str, name: str) -> None:
    assert normalise_name(label) == name


@given(st.text())
def test_every_label_becomes_a_valid_name(label: str) -> None:
    name = normalise_name(label)
    assert is_valid_name(name)
    assert NAME_RE.fullmatch(name) and len(name) <= MAX_NAME_LENGTH and name not in RESERVED_NAMES  # the gateway's


@given(st.from_regex(NAME_RE, fullmatch=True).filter(lambda n: len(n) <= MAX_NAME_LENGTH and n not in RESERVED_NAMES))
def test_a_valid_name_is_kept(name: str) -> None:
    assert normalise_name(name) == name


@given(st.lists(st.text(max_size=60), max_size=20, unique=True))
def test_unique_names_never_collide_and_stay_valid(labels: list[str]) -> None:
    names = unique_names(labels)
    assert list(names) == labels
    assert len(set(names.values())) == len(labels)
    assert all(is_valid_name(name) for name in names.values())
