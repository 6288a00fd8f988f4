"""Per-stream state: the ``StateStore`` port, its record codec, and the memory and Redis stores. The values
they store (``StreamRecord``, ``StateKey``, ``StateWrite``) belong to :mod:`rnnstream.core.records`.

The Redis stores are imported from :mod:`rnnstream.state.redis_store` (it needs the ``worker`` extra).
"""

from rnnstream.state.codec import decode_record, encode_record
from rnnstream.state.memory import MemoryStateStore
from rnnstream.state.store import StateEpoch, StateStore, WriteResult, epoch_key

__all__ = [
    "MemoryStateStore",
    "StateEpoch",
    "StateStore",
    "WriteResult",
    "decode_record",
    "encode_record",
    "epoch_key",
]
