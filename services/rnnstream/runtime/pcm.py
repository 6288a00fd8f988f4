"""The server-side audio front-end for raw PCM: a model's own log-mel front-end, run chunk by chunk, with its
whole carry-over (resampler history, samples not yet framed, the endpointer) in the stream's record.

:class:`PcmFrontEnd` implements the core's :class:`~rnnstream.core.pcm.FrontEnd` port with
:class:`~rnnstream.features.logmel.LogMelStream` (numpy only: the worker image has no librosa) and, for
``segment: vad`` streams, :func:`~rnnstream.core.endpointing.endpoint`. :func:`stream_pcm` runs a whole
recording through the worker's own step (``run_step``) packet by packet, with the record kept in memory:
``rnnstream eval --continuous`` and the tests use it as the offline reference of what the worker publishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from rnnstream.core.chunk_rule import GapPolicy
from rnnstream.core.endpointing import STATE_NAMES, EndpointConfig, check_state, endpoint, initial_state
from rnnstream.core.pcm import FedSegment, FrontEndOutput, PcmSamples
from rnnstream.core.records import StreamRecord
from rnnstream.core.step import AdmittedChunk, SegmentPrediction, run_step
from rnnstream.events.binary import PCM_ENCODING_CODES, PCM_ENCODINGS
from rnnstream.features.logmel import LogMelStream
from rnnstream.repository.manifest import LogMelConfig
from rnnstream.runtime.session import OnnxModel

_FORMAT: Final = "pcm.format"  # int64 [sample_rate, channels, encoding (the v2 wire's code), segment]
_FE_PREFIX: Final = "fe."


@dataclass(frozen=True)
class EndpointSettings:
    """The endpointing rules in seconds and decibels (worker settings ``RNNSTREAM_VAD_*``; docs/events.md).

    The defaults suit short commands and digits separated by pauses of 0.3 s or more: an utterance ends
    after 0.25 s of trailing silence (sherpa-onnx's 1.2 s suits sentences, where pauses between words are
    longer)."""

    trailing_silence_s: float = 0.25
    max_utterance_s: float = 20.0
    min_speech_s: float = 0.03
    preroll_s: float = 0.1
    postroll_s: float = 0.1
    onset_db: float = 7.0
    offset_db: float = 6.0
    lookback_db: float = 1.0
    tail_db: float = 5.0

    def frames(self, cfg: LogMelConfig) -> EndpointConfig:
        """The rules in frames of ``cfg``."""
        per_s = cfg.sample_rate / cfg.hop_length

        def n(seconds: float, minimum: int) -> int:
            return max(minimum, round(seconds * per_s))

        trailing = n(self.trailing_silence_s, 1)
        return EndpointConfig(
            onset_db=self.onset_db,
            offset_db=self.offset_db,
            lookback_db=self.lookback_db,
            tail_db=self.tail_db,
            onset_frames=n(self.min_speech_s, 1),
            preroll_frames=n(self.preroll_s, 0),
            postroll_frames=min(n(self.postroll_s, 0), trailing),
            trailing_silence_frames=trailing,
            max_utterance_frames=n(self.max_utterance_s, 1),
        )


class PcmFrontEnd:
    """One model's front-end for PCM chunks (the core's ``FrontEnd``)."""

    def __init__(self, cfg: LogMelConfig, endpointing: EndpointSettings | None = None) -> None:
        self.cfg = cfg
        self.endpointing = endpointing or EndpointSettings()
        self._rules = self.endpointing.frames(cfg)

    def advance(
        self, pcm: PcmSamples, state: Mapping[str, np.ndarray] | None, *, end: bool
    ) -> FrontEndOutput:
        fmt = np.array(
            [pcm.sample_rate, pcm.channels, PCM_ENCODING_CODES.get(pcm.encoding, 0), int(pcm.segment)],
            np.int64,
        )
        if state is None:
            stream = LogMelStream(self.cfg, pcm.sample_rate)
            vad = initial_state(self.cfg.n_mels) if pcm.segment else None
        else:
            refusal = _format_change(state.get(_FORMAT), fmt)
            if refusal is not None:
                return FrontEndOutput(refusal=refusal)
            try:
                fe = {k[len(_FE_PREFIX) :]: v for k, v in state.items() if k.startswith(_FE_PREFIX)}
                stream = LogMelStream.from_state(self.cfg, pcm.sample_rate, fe)
                vad = {k: state[k] for k in STATE_NAMES} if pcm.segment else None
                if vad is not None:
                    check_state(vad, self.cfg.n_mels)
            except (KeyError, ValueError) as exc:
                return FrontEndOutput(refusal=f"the stream's stored front-end state is not usable: {exc}")
        frames = stream.push(pcm.samples)
        if end:
            frames = np.concatenate([frames, stream.flush()])
        new_state: dict[str, np.ndarray] = {_FORMAT: fmt}
        new_state.update((_FE_PREFIX + k, np.asarray(v)) for k, v in stream.state().items())
        if vad is None:
            return FrontEndOutput([FedSegment(frames, closes=end)], new_state)
        result = endpoint(frames, vad, self._rules, end=end)
        new_state.update(result.state)
        segments = [
            FedSegment(
                s.frames, s.opens, s.closes, (s.index, self._ms(s.start_frame, 0), self._end_ms(s.end_frame))
            )
            for s in result.segments
        ]
        return FrontEndOutput(segments, new_state)

    def _ms(self, frame: int, extra_samples: int) -> int:
        return round((frame * self.cfg.hop_length + extra_samples) * 1000 / self.cfg.sample_rate)

    def _end_ms(self, end_frame: int) -> int:
        """End of frame ``end_frame - 1`` (the last speech frame)."""
        return self._ms(max(end_frame - 1, 0), self.cfg.n_fft)


def _format_change(stored: np.ndarray | None, fmt: np.ndarray) -> str | None:
    if stored is None or stored.shape != fmt.shape:
        return "the stream's stored front-end state has no PCM format"
    names = ("sample rate", "channel count", "encoding", "segment mode")
    for name, before, now in zip(names, stored.tolist(), fmt.tolist(), strict=True):
        if before != now:
            if name == "encoding":
                before, now = PCM_ENCODINGS.get(before, before), PCM_ENCODINGS.get(now, now)
            return (
                f"the stream's {name} is {before} but this chunk declares {now}; a stream keeps the format of "
                "its first chunk (start a new stream, or send start=true, to change it)"
            )
    return None


# --- the whole pass, offline ------------------------------------------------------------------------------


@dataclass
class StreamedPrediction:
    seq: int
    scores: NDArray[np.float32]
    final: bool
    utterance: tuple[int, int, int] | None


@dataclass
class StreamedResult:
    predictions: list[StreamedPrediction] = field(default_factory=list)
    record: StreamRecord | None = None

    def finals(self) -> list[StreamedPrediction]:
        return [p for p in self.predictions if p.final]


def stream_pcm(
    model: OnnxModel,
    packets: Iterable[PcmSamples],
    frontend: PcmFrontEnd,
    *,
    stream_id: str = "offline",
) -> StreamedResult:
    """Run ``packets`` (one stream, in order; the last one ends it) through the worker's step, one packet
    per batch, the record kept in memory: exactly what a worker publishes for that stream."""
    result = StreamedResult()
    items = list(packets)
    width = model.manifest.features.n_mels if model.manifest.features is not None else 0
    for seq, pcm in enumerate(items):
        end = seq == len(items) - 1
        chunk = AdmittedChunk(stream_id, seq, seq == 0, end, np.zeros((0, width), np.float32), 0, pcm)
        step = run_step(
            model, [chunk], {stream_id: result.record}, policy=GapPolicy.SKIP, now_ms=0, frontend=frontend
        )
        outcome = step.outcomes[0]
        if not outcome.decision.accepted:
            raise ValueError(f"packet {seq} was refused: {outcome.detail or outcome.decision.reason}")
        for w in step.writes:
            result.record = w.record
        result.predictions.extend(_as_streamed(seq, p) for p in outcome.predictions)
    return result


def _as_streamed(seq: int, p: SegmentPrediction) -> StreamedPrediction:
    return StreamedPrediction(seq, p.scores, p.final, p.utterance)


def packets_of(
    samples: NDArray[np.floating],
    sample_rate: int,
    sizes: Iterable[int],
    *,
    encoding: str = "f32le",
    segment: bool = False,
) -> list[PcmSamples]:
    """Cut ``samples`` (``[n]`` or ``[n, channels]``) into packets of the given sizes (in samples per channel;
    the last packet takes the rest)."""
    x = np.asarray(samples, np.float32)
    x = x[:, None] if x.ndim == 1 else x
    out: list[PcmSamples] = []
    pos = 0
    for size in sizes:
        if pos >= len(x):
            break
        out.append(PcmSamples(x[pos : pos + size], sample_rate, x.shape[1], encoding, segment))
        pos += size
    if pos < len(x):
        out.append(PcmSamples(x[pos:], sample_rate, x.shape[1], encoding, segment))
    return out
