"""The three event formats on the wire, version 1: input events, predictions, dead letters.

Every event is one UTF-8 JSON object; the Kafka key is the stream id. The models are strict (``seq`` must be
a JSON integer, ``"1"`` is refused) and refuse unknown fields: a new optional field comes with a new ``v``.
Everything a worker will later encode is bounded here, so an event that validates cannot fail downstream for
reasons of its own content: integers fit int64 (the state codec and Java/Go consumers), every string encodes
as UTF-8 (no lone surrogates such as ``"\ud800"``, which JSON allows), a stream id holds no ``{``/``}``
(the Redis Cluster hash tag). A pcm payload's sample rate and channel count are only typed here: out of range
is the codec's ``bad_pcm``, not a schema error.
The JSON Schema files in ``schemas/`` are generated from these classes (see ``schema_files``); a test fails
when they drift apart. docs/events.md describes the formats for people.
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

EVENT_FORMAT_VERSION: Final = 1

#: The largest integer on the wire: int64, what the state codec stores and Java/Go consumers read.
INT64_MAX: Final = 2**63 - 1
#: The largest value a worker accepts (bytes); the worker setting ``max_event_bytes`` defaults to it.
DEFAULT_MAX_EVENT_BYTES: Final = 1_048_576
#: The most frames or tokens one chunk may hold; the worker setting ``max_chunk_steps`` defaults to it.
DEFAULT_MAX_CHUNK_STEPS: Final = 2_000
#: PCM audio: the sample rates (Hz) and channel counts a ``pcm`` payload may declare.
PCM_MIN_RATE: Final = 8_000
PCM_MAX_RATE: Final = 192_000
PCM_MAX_CHANNELS: Final = 8
#: The most audio one ``pcm`` event may carry, in milliseconds of its declared rate (``max_steps`` is for
#: frames and tokens; a pcm chunk may hold ``sample_rate * max_pcm_ms // 1000`` samples per channel).
DEFAULT_MAX_PCM_MS: Final = 1_000
#: The default topics: input events, predictions, dead letters (worker settings and clients start here).
DEFAULT_INPUT_TOPIC: Final = "rnnstream.events"
DEFAULT_PREDICTION_TOPIC: Final = "rnnstream.predictions"
DEFAULT_DEAD_LETTER_TOPIC: Final = "rnnstream.deadletter"


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not encodable as UTF-8 (a lone surrogate at character {exc.start})") from exc
    return value


def _integer_version(value: Any) -> Any:
    # JSON ``true`` and ``1.0`` compare equal to 1 in Python; the format version is the integer 1 only.
    if type(value) is not int:
        raise ValueError(f"v must be the integer 1, got {value!r}")
    return value


Text = Annotated[str, AfterValidator(_utf8)]
Version = Annotated[Literal[1], BeforeValidator(_integer_version)]
Int64 = Annotated[int, Field(ge=0, le=INT64_MAX)]

#: How frames travel: float32, little-endian, row-major ``[T, F]``.
FRAME_DTYPE = np.dtype("<f4")

StreamId = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=256,
        pattern=r"^[^{}]+$",
        description="The stream; also the Kafka key (its UTF-8 bytes). No '{' or '}'.",
    ),
]
ModelName = Annotated[Text, Field(min_length=1, max_length=256, description="Model name in the repository.")]
Millis = Annotated[Int64, Field(description="Wall-clock time, milliseconds since the Unix epoch (int64).")]


class DeadLetterReason(StrEnum):
    """Why an input event went to the dead-letter topic (machine-readable, stable)."""

    NOT_DECODABLE = "not_decodable"  # not UTF-8, or not JSON
    WRONG_SCHEMA = (
        "wrong_schema"  # fields missing or of the wrong type, unknown ``v``, frames not matching shape
    )
    NEGATIVE_SEQ = "negative_seq"  # seq < 0
    EMPTY = "empty"  # zero frames, tokens or samples
    OVERSIZED = "oversized"  # more steps (or audio) than allowed per chunk, or a value larger than allowed
    NON_FINITE = "non_finite"  # NaN or infinity among the frames or the f32le samples
    # a PCM payload that does not describe valid audio: a byte count that is not a whole number of samples ×
    # channels, a sample rate or channel count out of range, or (needs the stream's state, checked later by
    # the worker) a format that differs from the stream's first packet
    BAD_PCM = "bad_pcm"
    WRONG_FEATURE_WIDTH = "wrong_feature_width"  # F differs from the model's feature count (needs the model)
    UNKNOWN_MODEL = "unknown_model"  # no such model in the repository (needs the repository)
    UNKNOWN_VERSION = "unknown_version"  # no such version of that model (needs the repository)
    GAP = "gap"  # seq skips ahead and the gap policy is ``reject`` (needs the stream's state)
    AFTER_END = "after_end"  # the stream already ended (needs the stream's state)
    MISSING_KEY = "missing_key"  # the Kafka record has no key (the key must be the stream id)
    KEY_MISMATCH = "key_mismatch"  # the Kafka key is not the UTF-8 stream id
    DUPLICATE_FIELD = "duplicate_field"  # a JSON object names the same field twice
    PROCESSING_FAILED = "processing_failed"  # passed every check but failed in processing (a bug; see detail)


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", allow_inf_nan=False)


class FramesPayload(_Wire):
    """Feature frames (audio: log-mel) as base64 of little-endian float32, row-major ``[T, F]``.

    Validation checks that ``data`` is base64 of exactly ``T * F * 4`` bytes; :attr:`array` is the decoded
    (read-only) array. Whether the values are finite and ``T`` is in range is the codec's business.
    """

    kind: Literal["frames"]
    dtype: Literal["float32"] = "float32"
    shape: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=1)]] = Field(
        description="[T, F]: T frames (time steps) of F features each."
    )
    data: str = Field(description="Standard base64 (RFC 4648 §4, with padding) of T*F little-endian float32.")

    @model_validator(mode="after")
    def _check_data(self) -> FramesPayload:
        _ = self.frame_bytes  # decodes (and caches) now, so bad data fails validation
        return self

    @cached_property
    def frame_bytes(self) -> bytes:
        """The decoded ``data``: T*F little-endian float32 (cached; bytes keep model equality cheap)."""
        try:
            raw = base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("data is not valid base64") from exc
        steps, width = self.shape
        if len(raw) != steps * width * FRAME_DTYPE.itemsize:
            raise ValueError(
                f"data holds {len(raw)} bytes but shape {list(self.shape)} needs {steps * width * 4}"
            )
        return raw

    @property
    def array(self) -> npt.NDArray[np.float32]:
        """The frames as a read-only float32 array of shape ``[T, F]`` (a view of :attr:`frame_bytes`)."""
        array = np.frombuffer(self.frame_bytes, dtype=FRAME_DTYPE).reshape(self.shape)
        array = array.astype(np.float32, copy=False)  # no copy on little-endian machines
        array.flags.writeable = False
        return array

    @property
    def steps(self) -> int:
        """T, the number of frames."""
        return self.shape[0]

    @classmethod
    def from_array(cls, frames: npt.ArrayLike) -> FramesPayload:
        """Encode a ``[T, F]`` array (converted to float32) as a payload."""
        array = np.ascontiguousarray(np.asarray(frames, dtype=FRAME_DTYPE))
        if array.ndim != 2:
            raise ValueError(f"frames must be two-dimensional [T, F], not of shape {array.shape}")
        data = base64.b64encode(array.tobytes()).decode("ascii")
        return cls(kind="frames", shape=(array.shape[0], array.shape[1]), data=data)


class TokensPayload(_Wire):
    """Text as a list of tokens (the producer splits; the model's vocabulary maps them to ids)."""

    kind: Literal["tokens"]
    tokens: list[Text]

    @property
    def steps(self) -> int:
        """The number of tokens."""
        return len(self.tokens)


#: How PCM samples travel, by encoding: little-endian int16 or float32, interleaved ``[n, channels]``.
PCM_DTYPES: Final[dict[str, np.dtype[Any]]] = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}
#: An s16le sample ``s`` stands for ``s / PCM_S16_SCALE`` (so int16 maps to [-1, 1) exactly in float32).
PCM_S16_SCALE: Final = 32768.0


def pcm_samples(
    buffer: bytes, encoding: str, channels: int, offset: int = 0, count: int = -1
) -> npt.NDArray[np.float32]:
    """``count`` (``-1``: all) interleaved samples of ``encoding`` from ``buffer`` at ``offset``, as a
    read-only float32 ``[n, channels]`` array (s16le scaled by ``1 / 32768``; f32le a view of ``buffer``).
    ``ValueError`` when the bytes are not a whole number of samples × channels."""
    dtype = PCM_DTYPES[encoding]
    wire = np.frombuffer(buffer, dtype, count, offset)
    if channels < 1 or wire.size % channels:
        raise ValueError(f"{wire.size} samples are not a whole number of {channels}-channel samples")
    samples: npt.NDArray[np.float32]
    if encoding == "s16le":
        samples = wire.astype(np.float32)
        samples *= np.float32(1.0 / PCM_S16_SCALE)  # a power of two: exact
    else:
        samples = wire.astype(np.float32, copy=False)  # no copy on little-endian machines
    samples = samples.reshape(-1, channels)
    if samples.flags.writeable:
        samples.flags.writeable = False
    return samples


def pcm_wire_bytes(samples: npt.NDArray[np.floating[Any]], encoding: str) -> bytes:
    """The interleaved little-endian bytes of float ``samples`` ``[n, channels]`` in ``encoding``: s16le
    rounds ``x * 32768`` to the nearest integer and clips it to the int16 range (samples that came from int16
    come back exactly), f32le writes the float32 values as they are. ``ValueError`` for NaN in s16le (which
    has no NaN; f32le carries it, and the worker refuses it)."""
    if encoding == "s16le":
        scaled = np.rint(np.asarray(samples, dtype=np.float64) * PCM_S16_SCALE)
        if np.isnan(scaled).any():
            raise ValueError("s16le cannot carry NaN samples")
        return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()
    return np.ascontiguousarray(samples, dtype=PCM_DTYPES[encoding]).tobytes()


class PcmPayload(_Wire):
    """Raw PCM audio: base64 of interleaved little-endian samples (``s16le`` int16 or ``f32le`` float32).

    Validation checks the types and that ``data`` is base64; whether the rate and channel count are in range,
    the bytes are a whole number of samples × channels and the samples finite is the codec's business
    (``bad_pcm``, ``empty``, ``oversized``, ``non_finite``), like T and NaN for frames.
    """

    kind: Literal["pcm"]
    encoding: Literal["s16le", "f32le"] = Field(
        description="Sample format: s16le (int16, little-endian) or f32le (float32, little-endian)."
    )
    sample_rate: int = Field(
        description=f"Samples per second per channel, {PCM_MIN_RATE} to {PCM_MAX_RATE} (checked by the codec)."
    )
    channels: int = Field(
        default=1, description=f"Interleaved channels, 1 to {PCM_MAX_CHANNELS} (checked by the codec)."
    )
    segment: Literal["none", "vad"] = Field(
        default="none", description="vad: the worker cuts utterances by voice activity; none: it does not."
    )
    data: str = Field(
        description="Standard base64 (RFC 4648 §4, with padding) of interleaved little-endian samples."
    )

    @model_validator(mode="after")
    def _check_data(self) -> PcmPayload:
        _ = self.pcm_bytes  # decodes (and caches) now, so bad base64 fails validation
        return self

    @cached_property
    def pcm_bytes(self) -> bytes:
        """The decoded ``data``: the interleaved little-endian samples (cached)."""
        try:
            return base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("data is not valid base64") from exc

    @property
    def sample_bytes(self) -> int:
        """Bytes per sample of one channel: 2 (s16le) or 4 (f32le)."""
        return PCM_DTYPES[self.encoding].itemsize

    @property
    def steps(self) -> int:
        """Samples per channel (whole ones; 0 for a channel count below 1)."""
        return len(self.pcm_bytes) // (self.sample_bytes * self.channels) if self.channels >= 1 else 0

    @property
    def samples(self) -> npt.NDArray[np.float32]:
        """The samples as a read-only float32 ``[n, channels]`` array (s16le scaled by ``1 / 32768``);
        ``ValueError`` when the bytes are not a whole number of samples × channels."""
        return pcm_samples(self.pcm_bytes, self.encoding, self.channels)


Payload = Annotated[FramesPayload | TokensPayload | PcmPayload, Field(discriminator="kind")]


class InputEvent(_Wire):
    """One chunk of a stream, sent by a producer to the input topic."""

    v: Version = Field(description="Format version: the integer 1.")
    stream_id: StreamId
    seq: Int64 = Field(description="Chunk number within the stream: 0, 1, 2, ... (int64)")
    model: ModelName
    model_version: Text | None = Field(
        default=None, min_length=1, max_length=256, description="Model version; null means the latest."
    )
    start: bool = Field(default=False, description="This chunk starts (or restarts) the stream.")
    end: bool = Field(default=False, description="This chunk ends the stream; the prediction is final.")
    produced_at_ms: Millis
    payload: Payload

    @property
    def steps(self) -> int:
        """Frames or tokens in this chunk, or samples per channel of a pcm payload."""
        return self.payload.steps


class Utterance(_Wire):
    """Where an utterance lies in a segmented stream (``segment: vad``), in milliseconds of stream audio."""

    index: int = Field(ge=0, description="0 for the stream's first utterance, then 1, 2, ...")
    start_ms: int = Field(
        ge=0, description="Start of its first speech frame, from the stream's first sample."
    )
    end_ms: int = Field(ge=0, description="End of its last speech frame so far (at the final: its end).")


class PredictionEvent(_Wire):
    """The prediction after one chunk, published to the prediction topic."""

    v: Literal[1] = Field(description="Format version.")
    stream_id: StreamId
    seq: Int64 = Field(description="The seq of the chunk this prediction follows.")
    model: ModelName
    model_version: str = Field(min_length=1, description="The version that actually ran.")
    label: str = Field(description="The label with the highest score.")
    scores: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        description="Probability of every label (softmax of the last valid step's logits)."
    )
    steps_seen: int = Field(ge=0, description="Frames or tokens seen in this stream so far.")
    final: bool = Field(
        description="True after the stream's end chunk; in a segmented stream, on the utterance's last prediction."
    )
    gap: bool = Field(description="True when chunks were missing before this one (gap policy skip/reset).")
    produced_at_ms: Millis
    predicted_at_ms: Millis
    utterance: Utterance | None = Field(
        default=None, description="Segmented streams only: the utterance this prediction belongs to."
    )


class SourcePosition(_Wire):
    """Where the offending record was read."""

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class DeadLetter(_Wire):
    """An input event that could not be processed, with the reason, published to the dead-letter topic."""

    v: Literal[1] = Field(description="Format version.")
    reason: DeadLetterReason
    detail: str = Field(description="What was wrong, in words.")
    stream_id: str | None = Field(description="The stream, when it could be read.")
    seq: int | None = Field(description="The seq, when it could be read.")
    model: str | None = Field(description="The model name, when it could be read.")
    original: str = Field(description="The original value: UTF-8 text, or base64 (see original_encoding).")
    original_encoding: Literal["utf-8", "base64"] = "utf-8"
    original_truncated: bool = Field(default=False, description="True when only the first bytes are kept.")
    source: SourcePosition | None = Field(default=None, description="Topic, partition, offset when known.")
    at_ms: Millis

    def original_bytes(self) -> bytes:
        """The original value as bytes."""
        if self.original_encoding == "base64":
            return base64.b64decode(self.original)
        return self.original.encode("utf-8")
