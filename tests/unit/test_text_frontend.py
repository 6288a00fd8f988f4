"""Tokenizer and vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.errors import ConfigurationError
from rnnstream.features.text import PAD, UNK, Vocabulary, tokenize


def test_tokenize_words_punctuation_numbers() -> None:
    assert tokenize("WINNER!! Call 09061701461 now, it's FREE") == [
        "winner",
        "!",
        "!",
        "call",
        "<num>",
        "now",
        ",",
        "it's",
        "free",
    ]
    assert tokenize("  ") == []
    assert tokenize("ｆｕｌｌ width") == ["full", "width"]  # NFKC


def test_vocabulary_build_encode_roundtrip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    texts = [tokenize(t) for t in ["a b b c", "b c d", "c e"]]
    vocab = Vocabulary.build(texts, min_count=2)
    assert vocab.tokens == [PAD, UNK, "b", "c"]
    np.testing.assert_array_equal(vocab.encode(["c", "zzz", "b"]), [3, 1, 2])
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").tokens == vocab.tokens


def test_vocabulary_rejects_bad_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(ConfigurationError):
        Vocabulary.load(tmp_path / "bad.json")
    with pytest.raises(ConfigurationError):
        Vocabulary(["x", "y", "z"])
