"""Text → chunks of tokens (``words-v1``, the tokenizer every text model shares), one or more per chunk.

Texts come from arguments, or from lines of a file or of standard input (each line its own stream, read
lazily so a pipe can feed a long-running producer). Blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import TextIO

from rnnstream.clients.chunks import Chunk, StreamSource, new_stream_id
from rnnstream.errors import InputError
from rnnstream.features.text import tokenize


def iter_text_chunks(
    text: str, stream_id: str, chunk_tokens: int = 1, *, interval_s: float = 0.0
) -> Iterator[Chunk]:
    """The chunks of one text: ``chunk_tokens`` tokens each, the last one with ``end``.

    ``interval_s`` spaces the chunks when the publisher paces (chunk ``k`` is due ``k * interval_s`` after
    the first). Raises :class:`InputError` before yielding anything when the text has no tokens.
    """
    if chunk_tokens < 1:
        raise InputError(f"a chunk needs at least one token, got {chunk_tokens}")
    tokens = tokenize(text)
    if not tokens:
        raise InputError("the text has no tokens")
    starts = range(0, len(tokens), chunk_tokens)
    for seq, first in enumerate(starts):
        yield Chunk(
            stream_id=stream_id,
            seq=seq,
            start=seq == 0,
            end=first + chunk_tokens >= len(tokens),
            tokens=tuple(tokens[first : first + chunk_tokens]),
            due_s=seq * interval_s,
        )


def _source(text: str, stream_id: str, chunk_tokens: int, interval_s: float, **extra: object) -> StreamSource:
    return StreamSource(
        stream_id=stream_id,
        label=text,
        open=partial(iter_text_chunks, text, stream_id, chunk_tokens, interval_s=interval_s),
        extra={"input": text, **extra},
    )


def text_sources(
    texts: Iterable[str],
    *,
    stream_id: str | None = None,
    chunk_tokens: int = 1,
    interval_s: float = 0.0,
    numbered: bool = False,
) -> Iterator[StreamSource]:
    """One stream per text, lazily.

    Stream ids: ``stream_id`` (default ``text-<6 hex>``) for a single text, ``<that>-<n>`` (n from 1) when
    ``numbered`` — the caller says so when there may be more than one text.
    """
    base = stream_id if stream_id is not None else new_stream_id("text")
    for number, text in enumerate(texts, start=1):
        sid = f"{base}-{number}" if numbered else base
        yield _source(text, sid, chunk_tokens, interval_s)


def line_sources(
    lines: TextIO,
    *,
    name: str,
    stream_id: str | None = None,
    chunk_tokens: int = 1,
    interval_s: float = 0.0,
) -> Iterator[StreamSource]:
    """One stream per non-blank line of ``lines``, read as they come; ids ``<prefix>-<line number>``.

    ``name`` says where the lines come from (a file name, or ``-`` for standard input); the prefix is
    ``stream_id`` or ``text-<6 hex>``.
    """
    base = stream_id if stream_id is not None else new_stream_id("text")
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if text.strip():
            yield _source(text, f"{base}-{number}", chunk_tokens, interval_s, file=name, line=number)
