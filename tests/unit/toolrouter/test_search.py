"""toolrouter.search: the tokenizer, BM25F ranking on a small hand-made tool set, and its edge cases."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolrouter.search import FieldWeights, ToolIndex, tokenize


def tool(
    name: str, description: str | None = None, properties: dict[str, Any] | None = None, **extra: Any
) -> types.Tool:
    schema: dict[str, Any] = {"type": "object"}
    if properties is not None:
        schema["properties"] = properties
    return types.Tool(name=name, description=description, input_schema=schema, **extra)


TOOLS = [
    tool("read_file", "Read the complete contents of a file from disk.", {"path": {"type": "string"}}),
    tool("write_file", "Create a new file or overwrite an existing one.", {"path": {}, "content": {}}),
    tool("list_directory", "List the entries of a directory.", {"path": {"type": "string"}}),
    tool("create_pull_request", "Create a new pull request in a GitHub repository.", {"owner": {}, "repo": {}}),
    tool("create_issue", "Open a new issue in a GitHub repository.", {"title": {}, "body": {}}),
    tool("browser_take_screenshot", "Take a screenshot of the current page.", {"fullPage": {"type": "boolean"}}),
    tool("get_current_time", "Current time in a given timezone.", {"timezone": {"description": "IANA name"}}),
    tool("convert_time", "Convert a time between timezones.", {"source_timezone": {}, "target_timezone": {}}),
]


def names(results: list[tuple[types.Tool, float]]) -> list[str]:
    return [t.name for t, _ in results]


# --- tokenizer ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("get_file_contents", ["get", "fil", "content"]),
        ("browserTakeScreenshot", ["browser", "tak", "screenshot"]),
        ("list-issues", ["list", "issu"]),
        ("repo.search", ["repo", "search"]),
        ("HTTPServer parseJSONBody", ["http", "server", "pars", "json", "body"]),
        ("base64Encode", ["base64", "encod"]),
        ("  ", []),
    ],
)
def test_tokenize_splits_identifiers(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    "group",
    [
        ("file", "files", "File", "FILES"),
        ("create", "created", "creating", "creates"),
        ("run", "running", "runs"),
        ("query", "queries", "queried"),
        ("commit", "commits", "committed"),
        ("search", "searches", "searching", "searched"),
        ("address", "addresses"),
        ("pull", "pulled", "pulls"),
    ],
)
def test_stemming_merges_inflections(group: tuple[str, ...]) -> None:
    stems = {tuple(tokenize(word)) for word in group}
    assert len(stems) == 1, stems


def test_stop_words_and_single_letters_dropped() -> None:
    assert tokenize("what is the time in a city of Japan?") == ["tim", "city", "japan"]
    assert tokenize("x y z") == []


def test_stemming_leaves_short_and_vowelless_words() -> None:
    assert tokenize("string need used status") == ["string", "need", "used", "status"]


def test_tokenize_unicode_and_digits() -> None:
    assert tokenize("Größe_ändern v2") == ["größ", "ändern", "v2"]


# --- ranking ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("read the contents of a file", "read_file"),
        ("open a pull request", "create_pull_request"),
        ("take a screenshot of the page", "browser_take_screenshot"),
        ("what is the current time in Tokyo", "get_current_time"),
        ("convert 3pm from one timezone to another", "convert_time"),
        ("show the entries in a folder directory", "list_directory"),
        ("file a bug issue", "create_issue"),
    ],
)
def test_right_tool_first(query: str, expected: str) -> None:
    results = ToolIndex(TOOLS).search(query)
    assert names(results)[0] == expected


def test_parameter_names_count() -> None:
    index = ToolIndex(
        [
            tool("lookup", "Look something up.", {"zipcode": {"type": "string"}}),
            tool("lookup_other", "Look something up."),
        ]
    )
    assert names(index.search("zipcode")) == ["lookup"]
    # and parameter descriptions
    with_description = tool("lookup", "Look up.", {"q": {"description": "the postal code"}})
    index = ToolIndex([with_description, tool("other", "Look up.")])
    assert names(index.search("postal code")) == ["lookup"]


def test_nested_schema_parameters_count() -> None:
    nested = tool(
        "batch",
        "Run a batch.",
        {"items": {"type": "array", "items": {"type": "object", "properties": {"recipient": {}}}}},
    )
    assert names(ToolIndex([nested, tool("other", "Run a batch.")]).search("recipient")) == ["batch"]


def test_name_weighs_more_than_description() -> None:
    index = ToolIndex([tool("delete_branch", "Remove a ref."), tool("remove_ref", "Delete a branch name.")])
    assert names(index.search("delete branch"))[0] == "delete_branch"


def test_title_and_annotation_title_are_indexed() -> None:
    by_title = tool("t1", "Does a thing.", title="Weather forecast")
    by_annotation = tool("t2", "Does a thing.", annotations=types.ToolAnnotations(title="Stock quotes"))
    index = ToolIndex([by_title, by_annotation, tool("t3", "Does a thing.")])
    assert names(index.search("forecast")) == ["t1"]
    assert names(index.search("stock quote")) == ["t2"]


def test_limit_honoured() -> None:
    index = ToolIndex(TOOLS)
    assert len(index.search("file", limit=1)) == 1
    assert len(index.search("a new file directory pull request issue time", limit=3)) == 3
    assert index.search("file", limit=0) == []
    assert index.search("file", limit=-5) == []


@pytest.mark.parametrize("query", ["", "   ", "the of and a", "zzqx", "!!!???", "🦀🦀", "_-."])
def test_empty_or_garbage_query_returns_nothing(query: str) -> None:
    assert ToolIndex(TOOLS).search(query) == []


def test_scores_positive_and_sorted() -> None:
    results = ToolIndex(TOOLS).search("create a new file or issue in the repository")
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)


def test_deterministic_and_ties_keep_input_order() -> None:
    twins = [tool(f"twin_{i}", "Send an email message.") for i in range(5)]
    first = ToolIndex(twins).search("send email")
    assert names(first) == [f"twin_{i}" for i in range(5)]
    assert ToolIndex(twins).search("send email") == first
    assert ToolIndex(list(TOOLS)).search("file path") == ToolIndex(list(TOOLS)).search("file path")


def test_repeated_query_words_count_once() -> None:
    index = ToolIndex(TOOLS)
    assert index.search("screenshot screenshot screenshot") == index.search("screenshot")


def test_tools_without_description_or_schema() -> None:
    bare = [
        types.Tool(name="bare", input_schema={}),
        types.Tool(name="no_props", input_schema={"type": "object"}),
        types.Tool(name="odd_schema", input_schema={"properties": ["not", "a", "mapping"], "items": 3}),
        types.Tool(name="odd_props", input_schema={"properties": {"x": 5, "y": {"description": 7}}}),
    ]
    index = ToolIndex(bare)
    assert names(index.search("bare")) == ["bare"]
    assert names(index.search("odd")) == ["odd_schema", "odd_props"]
    assert ToolIndex([]).search("anything") == []
    assert len(ToolIndex([])) == 0


def test_deep_or_wide_schema_is_bounded() -> None:
    deep: dict[str, Any] = {"type": "object"}
    node = deep
    for level in range(50):
        child: dict[str, Any] = {"type": "object"}
        node["properties"] = {f"level{level}": child}
        node = child
    wide = {"type": "object", "properties": {f"p{i}": {} for i in range(10_000)}}
    index = ToolIndex([types.Tool(name="deep", input_schema=deep), types.Tool(name="wide", input_schema=wide)])
    assert names(index.search("level3")) == ["deep"]
    assert index.search("level40") == []
    assert names(index.search("p5")) == ["wide"]
    assert index.search("p9999") == []


def test_shared_subschemas_are_bounded() -> None:
    # A schema built in Python can share one sub-schema many times over: the walk stops at a node budget.
    node: dict[str, Any] = {"type": "object", "properties": {"leaf": {}}}
    for _ in range(6):
        node = {"anyOf": [node] * 50}
    index = ToolIndex([types.Tool(name="shared", input_schema=node)])
    assert names(index.search("leaf")) == ["shared"]


def test_long_runs_tokenize_like_short_ones() -> None:
    assert tokenize("ab" * 40 + "FileNames")[1:] == tokenize("abFileNames")[1:] == ["fil", "nam"]


def test_field_weights_validated() -> None:
    with pytest.raises(ValueError):
        FieldWeights(b_description=1.5)
    with pytest.raises(ValueError):
        FieldWeights(name=-1)
    with pytest.raises(ValueError):
        FieldWeights(k1=0)


def test_field_weights_configurable() -> None:
    only_names = FieldWeights(title=0, description=0, param_names=0, param_descriptions=0)
    index = ToolIndex(TOOLS, weights=only_names)
    assert index.search("page") == []
    assert names(index.search("screenshot")) == ["browser_take_screenshot"]


# --- properties ---------------------------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=60)
_tools = st.lists(
    st.builds(
        lambda name, description, params: tool(name, description, {p: {"description": d} for p, d in params.items()}),
        st.text(min_size=1, max_size=30),
        st.none() | _text,
        st.dictionaries(st.text(max_size=15), _text, max_size=4),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(tools=_tools, query=_text, limit=st.integers(-2, 15))
def test_search_never_raises_and_respects_limit(tools: list[types.Tool], query: str, limit: int) -> None:
    results = ToolIndex(tools).search(query, limit)
    assert len(results) <= max(limit, 0)
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)
    assert all(any(t is given_tool for given_tool in tools) for t, _ in results)
