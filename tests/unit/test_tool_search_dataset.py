"""The tool-search benchmark's data stays what docs/benchmarks.md says it is: at least 300 real tool
definitions, each naming the package it was listed from, and at least 150 queries whose expected tools are
in the set. The benchmark itself (``python -m bench.tool_search``) measures the ranking; this only guards
the data it runs on, so a bad edit fails here rather than as a quiet change of the published figures."""

from __future__ import annotations

from bench.tool_search.__main__ import load_queries, load_tools


def test_the_dataset_has_enough_real_tools_each_with_its_source() -> None:
    tools, packages = load_tools()
    assert len(tools) >= 300
    assert all(packages[id(tool)] and all(packages[id(tool)]) for tool in tools)
    assert len({packages[id(tool)][0] for tool in tools}) >= 20  # many servers, not one big one


def test_every_query_expects_a_tool_of_the_dataset() -> None:
    tools, packages = load_tools()
    keys = {(package, tool.name) for tool in tools for package in packages[id(tool)]}
    queries = load_queries(keys)  # exits naming the query when an expected tool is missing
    assert len(queries) >= 150
    assert len({query.text for query in queries}) == len(queries)
