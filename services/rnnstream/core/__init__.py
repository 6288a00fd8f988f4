"""The pure core: the per-chunk rule and wave batching. No faust, redis or kafka here."""

from rnnstream.core.batching import pad_chunks, wave_indices
from rnnstream.core.chunk_rule import (
    Decision,
    GapPolicy,
    Outcome,
    RejectReason,
    decide,
    next_record,
    starting_state,
)
from rnnstream.core.records import StreamRecord

__all__ = [
    "Decision",
    "GapPolicy",
    "Outcome",
    "RejectReason",
    "StreamRecord",
    "decide",
    "next_record",
    "pad_chunks",
    "starting_state",
    "wave_indices",
]
