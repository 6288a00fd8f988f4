"""Tokenizer and vocabulary."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from rnnstream.errors import ConfigurationError
from rnnstream.features.text import PAD, UNK, Vocabulary, shape_class, tokenize


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


def test_v2_vocabulary_maps_unseen_tokens_by_shape_and_hash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    texts = [tokenize(t) for t in ["call now call now", "free prize now"]]
    vocab = Vocabulary.build(texts, min_count=2, hash_buckets=8)
    assert vocab.tokens[:2] == [PAD, UNK] and vocab.tokens[-2:] == ["now", "call"]
    ids = dict(zip(vocab.tokens, range(len(vocab)), strict=True))
    unseen = tokenize("call 150p 7 2000 £ 😀 ! zebra now 09061701461")
    assert unseen == ["call", "150p", "7", "2000", "£", "😀", "!", "zebra", "now", "<num>"]
    got = [vocab.tokens[i] for i in vocab.encode(unseen)]
    assert got[:7] == ["call", "<alnum>", "<digits:1>", "<digits:4>", "<currency>", "<emoji>", "<punct>"]
    assert got[7].startswith("<hash:") and got[8] == "now"
    assert got[7] == vocab.tokens[vocab.fallback_id("zebra")]  # the same word, the same bucket, every time
    assert got[9] == "<digits:4>"  # words-v1's <num> (5+ digits), when the vocabulary lacks it
    # Known words keep their ids; their fallback (for token dropout) is their shape.
    np.testing.assert_array_equal(vocab.encode_fallback(["call"]), [ids[shape_class("call", 8)]])
    vocab.save(tmp_path / "v2.json")
    again = Vocabulary.load(tmp_path / "v2.json")
    assert again.tokens == vocab.tokens and again.hash_buckets == 8
    np.testing.assert_array_equal(again.encode(unseen), vocab.encode(unseen))


def test_shape_classes() -> None:
    assert [shape_class(t, 4) for t in ["5", "12", "123", "1234", "x2", "$", "€", ",", "♥"]] == [
        "<digits:1>",
        "<digits:2>",
        "<digits:3>",
        "<digits:4>",
        "<alnum>",
        "<currency>",
        "<currency>",
        "<punct>",
        "<emoji>",
    ]
    assert (
        shape_class("hello", 4) == shape_class("hello", 4) == "<hash:" + str(zlib.crc32(b"hello") % 4) + ">"
    )
    assert shape_class("hello", 0) == UNK


def test_v1_vocabulary_still_maps_unseen_tokens_to_unk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    vocab = Vocabulary([PAD, UNK, "a"])
    assert vocab.hash_buckets is None
    np.testing.assert_array_equal(vocab.encode(["a", "150p", "£"]), [2, 1, 1])
    (tmp_path / "v2-missing.json").write_text(
        '{"format": "rnnstream-vocab-v2", "hash": "crc32", "hash_buckets": 2, "tokens": ["<pad>", "<unk>"]}'
    )
    with pytest.raises(ConfigurationError, match="shape classes"):
        Vocabulary.load(tmp_path / "v2-missing.json")
