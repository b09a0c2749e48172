"""Lexical tool search: rank MCP tools for a natural-language query (issue #19, virtual servers).

``ToolIndex(tools).search("take a screenshot of the page", limit=5)`` returns ``(tool, score)`` pairs, best
first, scores > 0 only. The benchmark (``python -m bench.tool_search``, docs/benchmarks.md) measures it on
real servers' ``tools/list`` output against a word-overlap baseline.

Why these choices:

- **BM25F** (Robertson & Zaragoza, "The Probabilistic Relevance Framework"): BM25 is the standard lexical
  ranker, needs no training data, no model and no dependency, and is deterministic. The F variant gives each
  field its own weight and length normalisation before the term-frequency saturation, so a word in the tool's
  name counts more than the same word in a long description, while a term repeated across fields still
  saturates (unlike summing one BM25 score per field). Fields: name, title (``title`` or
  ``annotations.title``), description, input-schema parameter names, and their descriptions.
- **Identifier-aware tokenizer**: tool and parameter names are identifiers (``get_file_contents``,
  ``browserTakeScreenshot``, ``list-issues``, ``repo.search``), so names are split on ``_``, ``-``, ``.``,
  and camelCase boundaries before lowercasing; otherwise the name field would never match a user's words.
- **Small stop-word list, light suffix stemming**: English function words carry no signal, but BM25's idf
  already discounts frequent words, so the list stays short (a long list drops words that matter, e.g.
  "all", "not"). Stemming strips plurals, -ing and -ed and then a final -e, and undoubles a final
  consonant, so "files"/"file", "creating"/"created"/"create" and "running"/"run" meet. It is deliberately
  cruder than Porter: a few rules, no exceptions table, deterministic; the stems need only be consistent,
  never readable.
- **Cost**: the per-document length normalisation is folded into the postings at build time, so building is
  one pass to tokenize and count plus one over the postings (O(total tokens)), and a query touches only the
  postings of its own terms. Schema walking is bounded in depth and property count, so a hostile schema
  cannot make indexing blow up.

Measured (docs/benchmarks.md, "Tool search"; 466 tools of 39 real servers in one index, 230 hand-written
requests): the right tool first for 59 % of requests and among the first five for 83 %, against 48 % and
78 % for counting shared words. What it misses is vocabulary (synonyms, near-identical neighbours); a small
embedding model (all-MiniLM-L6-v2) reaches 67 % and 88 % there, but it needs numpy, a tokenizer and 90 MB
of weights in the router's image, seconds of CPU per catalog and milliseconds per query: left for later,
behind this same interface.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mcp_types as types

__all__ = ["FieldWeights", "ToolIndex", "tokenize"]

# Runs of letters or digits (Unicode-aware); "_" is a word character for `\w`, hence the double negation.
_WORD = re.compile(r"[^\W_]+")
# camelCase and acronym boundaries: "getFileContents" -> get|File|Contents, "HTTPServer" -> HTTP|Server.
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_VOWEL = re.compile(r"[aeiouy]")
_NO_UNDOUBLE_OR_VOWEL = frozenset("lszaeiou")  # "pull", "class", "buzz", "free" keep their double letter

STOP_WORDS = frozenset(
    {
        "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "from", "at", "as", "is", "are",
        "was", "were", "be", "been", "being", "this", "that", "these", "those", "it", "its", "into", "onto", "than",
        "then", "there", "their", "them", "they", "i", "me", "my", "you", "your", "he", "she", "his", "her", "we",
        "our", "us", "can", "could", "will", "would", "should", "shall", "may", "might", "must", "do", "does", "did",
        "how", "what", "which", "who", "whom", "whose", "when", "where", "why", "please", "via", "so", "such",
        "just", "about", "if",
    }
)

# Bounds on what one tool contributes from its input schema (parameter names and descriptions), and on the
# schema nodes walked to find them (anyOf/oneOf/allOf variants and array items count too).
_MAX_SCHEMA_DEPTH = 6
_MAX_SCHEMA_PROPERTIES = 200
_MAX_SCHEMA_NODES = 2000


def _stem(word: str) -> str:
    """Light suffix stemming: plural, then -ing/-ed, then undouble, then a final -e."""
    if len(word) > 4 and word.endswith(("ies", "ied")):
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif len(word) >= 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix):
            rest = word[: -len(suffix)]
            if len(rest) >= 3 and _VOWEL.search(rest):
                word = rest
            break
    if len(word) >= 3 and word[-1] == word[-2] and word[-1].isalpha() and word[-1] not in _NO_UNDOUBLE_OR_VOWEL:
        word = word[:-1]
    if len(word) >= 4 and word.endswith("e"):
        word = word[:-1]
    return word


def _chunk_terms(chunk: str) -> tuple[str, ...]:
    """The terms of one run of letters and digits (an identifier or a word)."""
    terms = []
    for part in _CAMEL.split(chunk):
        word = part.lower()
        if len(word) >= 2 and word not in STOP_WORDS:
            terms.append(_stem(word))
    return tuple(terms)


# Most runs recur across tools and queries, so their terms are cached: a bounded number of entries, and only
# short runs, so that long strings in hostile tool definitions cannot make the cache large.
_cached_chunk_terms = functools.lru_cache(maxsize=1 << 15)(_chunk_terms)
_MAX_CACHED_CHUNK = 64


def tokenize(text: str) -> list[str]:
    """Split identifiers and prose into lowercase, stemmed terms; stop words and 1-letter tokens dropped."""
    terms: list[str] = []
    for chunk in _WORD.findall(text):
        terms.extend(_cached_chunk_terms(chunk) if len(chunk) <= _MAX_CACHED_CHUNK else _chunk_terms(chunk))
    return terms


@dataclass(frozen=True, slots=True)
class FieldWeights:
    """BM25F parameters: a weight and a length-normalisation ``b`` per field, and the saturation ``k1``.

    The defaults were set before running the benchmark (the usual BM25F shape: short identifying fields
    weigh more and are normalised less), not fitted to its queries.
    """

    name: float = 3.0
    title: float = 2.0
    description: float = 1.0
    param_names: float = 1.0
    param_descriptions: float = 0.5
    b_name: float = 0.3
    b_title: float = 0.3
    b_description: float = 0.75
    b_param_names: float = 0.5
    b_param_descriptions: float = 0.75
    k1: float = 1.2

    def __post_init__(self) -> None:
        pairs = self.fields()
        if any(weight < 0 or not 0 <= b <= 1 for weight, b in pairs) or self.k1 <= 0:
            raise ValueError("FieldWeights: weights must be >= 0, each b within [0, 1], and k1 > 0")

    def fields(self) -> tuple[tuple[float, float], ...]:
        """(weight, b) in the order of :func:`_fields`."""
        return (
            (self.name, self.b_name),
            (self.title, self.b_title),
            (self.description, self.b_description),
            (self.param_names, self.b_param_names),
            (self.param_descriptions, self.b_param_descriptions),
        )


def _schema_parameters(schema: Any) -> Iterator[tuple[str, str]]:
    """(name, description) of each property in a JSON schema, nested ones included, bounded."""
    count = visited = 0
    stack: list[tuple[Any, int]] = [(schema, 0)]
    while stack and count < _MAX_SCHEMA_PROPERTIES and visited < _MAX_SCHEMA_NODES:
        node, depth = stack.pop()
        visited += 1
        if not isinstance(node, Mapping) or depth > _MAX_SCHEMA_DEPTH:
            continue
        properties = node.get("properties")
        children: list[Any] = []
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                if count >= _MAX_SCHEMA_PROPERTIES:
                    break
                count += 1
                description = sub.get("description") if isinstance(sub, Mapping) else None
                title = sub.get("title") if isinstance(sub, Mapping) else None
                text = " ".join(t for t in (title, description) if isinstance(t, str))
                yield str(name), text
                children.append(sub)
        items = node.get("items")
        if isinstance(items, Mapping):
            children.append(items)
        for key in ("anyOf", "oneOf", "allOf"):
            variants = node.get(key)
            if isinstance(variants, list):
                children.extend(variants)
        # Reversed so that the walk visits children in document order (deterministic either way).
        stack.extend((child, depth + 1) for child in reversed(children))


def _fields(tool: types.Tool) -> tuple[list[str], ...]:
    """The tool's terms per field: name, title, description, parameter names, parameter descriptions."""
    title = tool.title or (tool.annotations.title if tool.annotations is not None else None) or ""
    names: list[str] = []
    descriptions: list[str] = []
    for name, text in _schema_parameters(tool.input_schema):
        names.extend(tokenize(name))
        descriptions.extend(tokenize(text))
    return tokenize(tool.name), tokenize(title), tokenize(tool.description or ""), names, descriptions


class ToolIndex:
    """An immutable BM25F index over a list of tools; build it again when the list changes."""

    def __init__(self, tools: Sequence[types.Tool], *, weights: FieldWeights | None = None) -> None:
        self._tools = tuple(tools)
        self._weights = weights or FieldWeights()
        params = self._weights.fields()
        per_tool = [_fields(tool) for tool in self._tools]
        count = len(per_tool)
        totals = [0] * len(params)
        for fields in per_tool:
            for i, terms in enumerate(fields):
                totals[i] += len(terms)
        averages = [total / count if count and total else 1.0 for total in totals]
        # term -> [(tool index, length-normalised weighted term frequency)], tool indexes ascending.
        postings: dict[str, list[tuple[int, float]]] = {}
        for doc, fields in enumerate(per_tool):
            pseudo: dict[str, float] = {}
            for (weight, b), average, terms in zip(params, averages, fields, strict=True):
                if not terms or weight <= 0:
                    continue
                per_term = weight / (1.0 - b + b * len(terms) / average)
                for term, n in Counter(terms).items():
                    pseudo[term] = pseudo.get(term, 0.0) + n * per_term
            for term, tf in pseudo.items():
                postings.setdefault(term, []).append((doc, tf))
        self._postings = postings
        # BM25's idf with the +1 inside the log (Lucene's): positive for every term, so every match scores > 0.
        self._idf = {term: math.log(1.0 + (count - len(p) + 0.5) / (len(p) + 0.5)) for term, p in postings.items()}

    def __len__(self) -> int:
        return len(self._tools)

    def search(self, query: str, limit: int = 10) -> list[tuple[types.Tool, float]]:
        """The ``limit`` best tools for ``query``, best first, only those with a score > 0.

        Ties keep the order of the tools given to the index. Repeated query words count once.
        """
        if limit <= 0:
            return []
        k1 = self._weights.k1
        scores: dict[int, float] = {}
        for term in dict.fromkeys(tokenize(query)):
            postings = self._postings.get(term)
            if postings is None:
                continue
            idf = self._idf[term]
            for doc, tf in postings:
                scores[doc] = scores.get(doc, 0.0) + idf * tf * (k1 + 1.0) / (k1 + tf)
        best = heapq.nsmallest(limit, scores.items(), key=lambda item: (-item[1], item[0]))
        return [(self._tools[doc], score) for doc, score in best if score > 0]
