"""rnnstream Python client: stream a recording and a text message, watch the predictions, await the finals.

Needs a broker and a worker (from the repository root)::

    rnnstream services up                 # local broker on 127.0.0.1:9092 and Redis
    rnnstream worker &                    # the streaming worker (RNNSTREAM_* settings, defaults are local)
    python examples/client_example.py     # or: python examples/client_example.py my-recording.flac

Any audio file works (any format soundfile/librosa reads, any sample rate, stereo); without one, a bundled
FSDD recording is used.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rnnstream.clients import RnnstreamClient
from rnnstream.samples import sample_recordings


async def main(args: argparse.Namespace) -> None:
    audio: Path = args.audio
    text: str = args.text
    async with RnnstreamClient(
        args.broker,
        input_topic=args.input_topic,
        prediction_topic=args.prediction_topic,
        repository=args.repository,
    ) as client:
        # 1. an audio file, cut into 100 ms chunks of log-mel frames as it is read
        sent = await client.send_audio_file(audio, chunk_ms=100)
        print(f"sent {audio.name} as stream {sent.stream_id}: {sent.chunks} chunks, {sent.steps} frames")

        # 2. incremental predictions for that stream (the iterator ends after the final one)
        async with asyncio.timeout(30):
            async for p in client.predictions(sent.stream_id):
                marker = "final" if p.final else "     "
                print(f"  {marker} after {p.steps_seen:3d} frames: {p.label} ({p.scores[p.label]:.3f})")

        # 3. a text, token by token; just await its final prediction
        sms = await client.send_text(text)
        final = await client.wait_final(sms.stream_id, timeout=30)
        print(f"{text!r} → {final.label} ({final.scores[final.label]:.3f}) after {final.steps_seen} tokens")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "audio", nargs="?", type=Path, default=sample_recordings()[7][0], help="an audio file"
    )
    parser.add_argument("--broker", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    parser.add_argument("--input-topic", default="rnnstream.events")
    parser.add_argument("--prediction-topic", default="rnnstream.predictions")
    parser.add_argument("--repository", default="models/repository", help="model repository")
    parser.add_argument("--text", default="URGENT! You have won a 1 week FREE membership. Call now to claim")
    args = parser.parse_args()
    asyncio.run(main(args))
