"""The text front-end: a word tokenizer (``words-v1``) and a vocabulary saved beside each text model.

Producers tokenize (the rule is fixed and needs no model); the worker maps tokens to ids with the model's
vocabulary, so one producer serves every text model.

Two vocabulary formats, both read by ``Vocabulary.load``:

- ``rnnstream-vocab-v1``: known tokens, every other token is ``<unk>``.
- ``rnnstream-vocab-v2``: known tokens first; a token not in the list is mapped by its shape, one token at a
  time (so it streams): digits by length (``<digits:1>`` .. ``<digits:4>``, the last for 4 or more; ``words-v1``
  writes 5+ digits as ``<num>``, which goes there too when the vocabulary lacks it), letters mixed with digits (``<alnum>``, e.g. ``150p``, ``txt80488``), a currency
  sign (``<currency>``), an emoji or other symbol (``<emoji>``), punctuation (``<punct>``), and any other word
  into one of ``hash_buckets`` buckets by CRC-32 (``<hash:N>``), so unseen words are not all one token.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rnnstream.errors import ConfigurationError

PAD, UNK = "<pad>", "<unk>"
VOCAB_FORMAT = "rnnstream-vocab-v1"
VOCAB_FORMAT_V2 = "rnnstream-vocab-v2"
SHAPE_CLASSES = (
    *(f"<digits:{n}>" for n in range(1, 5)),
    "<alnum>",
    "<currency>",
    "<emoji>",
    "<punct>",
)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_LONG_NUMBER = re.compile(r"^[0-9]{5,}$")


def tokenize(text: str) -> list[str]:
    """``words-v1``: NFKC, lower case, words and single punctuation marks; numbers of 5+ digits → ``<num>``."""
    norm = unicodedata.normalize("NFKC", text).lower()
    return ["<num>" if _LONG_NUMBER.match(t) else t for t in _TOKEN.findall(norm)]


def shape_class(token: str, hash_buckets: int) -> str:
    """The ``rnnstream-vocab-v2`` class of a token the vocabulary does not know (see the module docstring)."""
    if token == "<num>" or (token.isdigit() and token.isascii()):
        return f"<digits:{min(len(token), 4)}>"
    if any(ch.isdigit() for ch in token):
        return "<alnum>"
    if len(token) == 1 and not token.isalnum():
        category = unicodedata.category(token)
        if category == "Sc":
            return "<currency>"
        if category[0] == "P":
            return "<punct>"
        return "<emoji>"
    if hash_buckets > 0:
        return f"<hash:{zlib.crc32(token.encode('utf-8')) % hash_buckets}>"
    return UNK


class Vocabulary:
    """Token ↔ id. Id 0 is padding, id 1 stands for every unknown token (v1), or for the unknown tokens no
    shape class or hash bucket takes (v2, with ``hash_buckets`` > 0: none)."""

    def __init__(self, tokens: Sequence[str], *, hash_buckets: int | None = None) -> None:
        if list(tokens[:2]) != [PAD, UNK]:
            raise ConfigurationError(f"a vocabulary starts with {PAD!r} and {UNK!r}")
        self.tokens = list(tokens)
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        self.hash_buckets = hash_buckets  # None: format v1 (no shape classes)
        if hash_buckets is not None:
            missing = [t for t in self.shape_tokens(hash_buckets) if t not in self._ids]
            if missing:
                raise ConfigurationError(f"a v2 vocabulary lists its shape classes; missing {missing[:3]}")

    def __len__(self) -> int:
        return len(self.tokens)

    @staticmethod
    def shape_tokens(hash_buckets: int) -> list[str]:
        """The class and bucket tokens of a v2 vocabulary."""
        return [*SHAPE_CLASSES, *(f"<hash:{n}>" for n in range(hash_buckets))]

    @classmethod
    def build(
        cls,
        texts: Iterable[Sequence[str]],
        *,
        min_count: int = 2,
        max_size: int = 20000,
        hash_buckets: int | None = None,
    ) -> Vocabulary:
        """From tokenized training texts: tokens seen ``min_count`` times, most frequent first. With
        ``hash_buckets`` (format v2) the shape classes and buckets follow the two special tokens."""
        counts = Counter(t for toks in texts for t in toks)
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        special = [PAD, UNK] + ([] if hash_buckets is None else cls.shape_tokens(hash_buckets))
        kept = [t for t in kept if t not in special]
        return cls([*special, *kept[: max_size - len(special)]], hash_buckets=hash_buckets)

    def fallback_id(self, token: str) -> int:
        """The id a token gets when the vocabulary does not know it."""
        if self.hash_buckets is None:
            return 1
        return self._ids[shape_class(token, self.hash_buckets)]

    def encode(self, tokens: Sequence[str]) -> NDArray[np.int64]:
        """Token ids (unknown tokens → 1 in v1, their shape class or hash bucket in v2)."""
        ids = self._ids
        return np.fromiter(
            (ids[t] if t in ids else self.fallback_id(t) for t in tokens), dtype=np.int64, count=len(tokens)
        )

    def encode_fallback(self, tokens: Sequence[str]) -> NDArray[np.int64]:
        """Every token's fallback id, as if none were known (for token dropout while training)."""
        return np.fromiter((self.fallback_id(t) for t in tokens), dtype=np.int64, count=len(tokens))

    def save(self, path: Path | str) -> None:
        """Write as JSON."""
        doc: dict[str, object] = {"format": VOCAB_FORMAT, "tokenizer": "words-v1"}
        if self.hash_buckets is not None:
            doc.update(format=VOCAB_FORMAT_V2, hash="crc32", hash_buckets=self.hash_buckets)
        doc["tokens"] = self.tokens
        Path(path).write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> Vocabulary:
        """Read a vocabulary written by ``save`` (either format)."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read vocabulary {path}: {exc}") from exc
        if doc.get("format") == VOCAB_FORMAT:
            return cls(doc["tokens"])
        if doc.get("format") == VOCAB_FORMAT_V2 and doc.get("hash") == "crc32":
            return cls(doc["tokens"], hash_buckets=int(doc["hash_buckets"]))
        raise ConfigurationError(f"{path} is not a {VOCAB_FORMAT} or {VOCAB_FORMAT_V2} file")
