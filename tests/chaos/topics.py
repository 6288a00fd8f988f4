"""Read a whole topic back after a run (every partition, from the start to the end offsets), for diagnosis."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, TopicPartition

from rnnstream.events.binary import is_binary_event, readable_fields

Positions = dict[tuple[str, int], list[tuple[int, int]]]


async def topic_positions(bootstrap: str, topic: str, *, timeout_s: float = 60.0) -> Positions:
    """(stream, seq) → every (partition, offset) the topic holds it at (input events, v1 or v2, or prediction
    events)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    out: Positions = {}
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not parts:
            await consumer.force_metadata_update()
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        done = {tp for tp in parts if end[tp] == 0}
        while len(done) < len(parts):
            batch = await consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=5000)
            if not batch:
                break
            for tp, records in batch.items():
                for r in records:
                    value = r.value or b"{}"
                    event = readable_fields(value) if is_binary_event(value) else json.loads(value)
                    out.setdefault((event["stream_id"], event["seq"]), []).append((tp.partition, r.offset))
                    if r.offset + 1 >= end[tp]:
                        done.add(tp)
    finally:
        await consumer.stop()
    return out
