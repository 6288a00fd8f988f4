"""What ``rnnstream tail`` shows for predictions of segmented streams (``segment: vad``): the utterance, where it
lies, and its final label; predictions without an utterance look as they always did."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from rich.console import Console

from rnnstream.cli.console import TailBoard, describe, prediction_key, tail
from rnnstream.clients.consumer import ReceivedPrediction
from rnnstream.events import PredictionEvent
from rnnstream.events.models import Utterance


def _prediction(
    seq: int,
    final: bool,
    *,
    label: str = "7",
    utterance: tuple[int, int, int] | None = None,
    stream: str = "mic-1",
) -> ReceivedPrediction:
    scores = {str(d): 0.002 for d in range(10)}
    scores[label] = 0.982
    event = PredictionEvent(
        v=1,
        stream_id=stream,
        seq=seq,
        model="fsdd-digits-lstm",
        model_version="2",
        label=label,
        scores=scores,
        steps_seen=4 * (seq + 1),
        final=final,
        gap=False,
        produced_at_ms=1_000,
        predicted_at_ms=1_012,
        utterance=None
        if utterance is None
        else Utterance(index=utterance[0], start_ms=utterance[1], end_ms=utterance[2]),
    )
    return ReceivedPrediction(event, partition=0, offset=seq, received_at_ms=1_020)


def test_an_utterance_final_shows_index_span_and_label() -> None:
    line = describe(_prediction(617, True, utterance=(3, 12_340, 12_710)))
    assert line == "mic-1 seq=617 utt 3  12.34-12.71 s  FINAL 7 (0.98)  latency_ms=12"


def test_an_incremental_utterance_prediction_is_marked_partial() -> None:
    line = describe(_prediction(612, False, label="1", utterance=(3, 12_340, 12_600)))
    assert line == "mic-1 seq=612 utt 3  12.34-12.60 s  partial 1 (0.98)  latency_ms=12"
    assert "FINAL" not in line


def test_a_prediction_without_an_utterance_reads_as_before() -> None:
    assert describe(_prediction(1, True)) == (
        "mic-1 seq=1 label=7 confidence=0.982 frames=8 latency_ms=12 final"
    )
    assert describe(_prediction(0, False)).endswith("latency_ms=12")


def test_finals_are_counted_per_utterance_even_on_one_seq() -> None:
    board = TailBoard()
    board.add(_prediction(40, True, utterance=(0, 100, 400)))
    board.add(_prediction(40, True, utterance=(1, 500, 700)))  # two utterances closed by one chunk
    board.add(_prediction(40, True, utterance=(1, 500, 700)))  # a duplicate
    board.add(_prediction(41, True, stream="other"))
    assert board.finals == {("mic-1", 40, 0), ("mic-1", 40, 1), ("other", 41, -1)}
    assert prediction_key(_prediction(3, False).event) == ("mic-1", 3, -1)


def test_the_table_gets_an_utterance_column_once_a_segmented_stream_is_seen() -> None:
    board = TailBoard()
    board.add(_prediction(1, False, stream="plain"))
    console = Console(record=True, width=200)
    console.print(board.render("t"))
    assert "utterance" not in console.export_text()
    board.add(_prediction(2, False, utterance=(0, 1_200, 1_480)))
    console.print(board.render("t"))
    text = console.export_text()
    assert "utterance" in text and "utt 0  1.20-1.48 s" in text


class _Reader:
    topic = "preds"

    def __init__(self, items: list[ReceivedPrediction]) -> None:
        self.items = items

    async def _iterate(self) -> AsyncIterator[ReceivedPrediction]:
        for item in self.items:
            yield item

    def __aiter__(self) -> AsyncIterator[ReceivedPrediction]:
        return self._iterate()


def test_tail_lines_and_live_modes_show_utterances() -> None:
    items = [
        _prediction(10, False, label="3", utterance=(0, 200, 350)),
        _prediction(12, True, label="3", utterance=(0, 200, 410)),
        _prediction(30, True, label="8", utterance=(1, 900, 1_250)),
    ]
    lines = Console(record=True, width=200)
    board = asyncio.run(tail(_Reader(items), lines, mode="lines", until_final=2))  # type: ignore[arg-type]
    assert len(board.finals) == 2
    assert lines.export_text().splitlines() == [describe(i) for i in items]

    live = Console(record=True, width=200, force_terminal=True)
    asyncio.run(tail(_Reader(items), live, mode="live"))  # type: ignore[arg-type]
    text = live.export_text()
    # every utterance's final stays on screen above the table, which shows only the latest per stream
    assert "mic-1  utt 0  0.20-0.41 s  FINAL 3 (0.98)" in text
    assert "mic-1  utt 1  0.90-1.25 s  FINAL 8 (0.98)" in text
