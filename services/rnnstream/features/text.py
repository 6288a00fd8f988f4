"""The text front-end: a word tokenizer (``words-v1``) and a vocabulary saved beside each text model.

Producers tokenize (the rule is fixed and needs no model); the worker maps tokens to ids with the model's
vocabulary, so one producer serves every text model.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rnnstream.errors import ConfigurationError

PAD, UNK = "<pad>", "<unk>"
VOCAB_FORMAT = "rnnstream-vocab-v1"
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_LONG_NUMBER = re.compile(r"^[0-9]{5,}$")


def tokenize(text: str) -> list[str]:
    """``words-v1``: NFKC, lower case, words and single punctuation marks; numbers of 5+ digits → ``<num>``."""
    norm = unicodedata.normalize("NFKC", text).lower()
    return ["<num>" if _LONG_NUMBER.match(t) else t for t in _TOKEN.findall(norm)]


class Vocabulary:
    """Token ↔ id. Id 0 is padding, id 1 stands for every unknown token."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD, UNK]:
            raise ConfigurationError(f"a vocabulary starts with {PAD!r} and {UNK!r}")
        self.tokens = list(tokens)
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(
        cls, texts: Iterable[Sequence[str]], *, min_count: int = 2, max_size: int = 20000
    ) -> Vocabulary:
        """From tokenized training texts: tokens seen ``min_count`` times, most frequent first."""
        counts = Counter(t for toks in texts for t in toks)
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK, *kept[: max_size - 2]])

    def encode(self, tokens: Sequence[str]) -> NDArray[np.int64]:
        """Token ids (unknown tokens → 1)."""
        return np.fromiter((self._ids.get(t, 1) for t in tokens), dtype=np.int64, count=len(tokens))

    def save(self, path: Path | str) -> None:
        """Write as JSON."""
        doc = {"format": VOCAB_FORMAT, "tokenizer": "words-v1", "tokens": self.tokens}
        Path(path).write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> Vocabulary:
        """Read a vocabulary written by ``save``."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read vocabulary {path}: {exc}") from exc
        if doc.get("format") != VOCAB_FORMAT:
            raise ConfigurationError(f"{path} is not a {VOCAB_FORMAT} file")
        return cls(doc["tokens"])
