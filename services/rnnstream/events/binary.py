"""Input events, version 2: a fixed 40-byte little-endian header, three strings, then the raw payload.

v1 (JSON) spends most of its decode in pydantic, base64 and a second parse; v2 is laid out so that a reader
does one ``struct`` unpack, slices three strings and takes the frames as a zero-copy NumPy view. Layout
(docs/events.md has it as a table for other languages)::

    offset size field
    0      4    magic b"RNS2"                 (a v1 value is a JSON object: it starts with "{" or whitespace)
    4      1    kind (B)                      1 = frames (float32), 2 = tokens, 3 = pcm (raw audio)
    5      1    flags (B)                     bit 0 start, bit 1 end, bit 2 model_version present
    6      2    reserved (H)                  0
    8      8    seq (q)                       >= 0
    16     8    produced_at_ms (q)            >= 0; at a fixed offset, so a producer may stamp it in place
    24     4    steps T (I)                   pcm: samples per channel
    28     4    width F (I)                   frames: >= 1; tokens: 0; pcm: channels, 1..8
    32     2    stream_id length in bytes (H)
    34     2    model length (H)
    36     2    model_version length (H)      0 unless flag bit 2
    38     2    reserved (H)                  0
    40     ...  stream_id, model, model_version (UTF-8, in that order), then the payload:
                frames: T*F float32 little-endian, row-major [T, F]; tokens: T times (length (H), UTF-8);
                pcm: an 8-byte PCM header (:data:`PCM_HEADER`), then T*F interleaved samples:

    offset size field                     (from the start of the payload)
    0      4    sample_rate (I)               8000..192000 Hz
    4      1    encoding (B)                  1 = s16le (int16), 2 = f32le (float32), both little-endian
    5      1    segment (B)                   0 = none, 1 = vad (the worker cuts utterances by voice activity)
    6      2    reserved (H)                  0
    8      ...  T*F samples, interleaved [T, F] (sample 0 of every channel, then sample 1, ...)

The value ends exactly where the payload does. The bounds are v1's (``rnnstream.events.models``).

:func:`decode_binary_event` returns a :class:`ChunkEvent` or raises :class:`EventError`; the first failing
check decides the reason, in this order: size (``oversized``), a header cut short (``not_decodable``), the
header's fields (``wrong_schema``), the strings (cut short: ``not_decodable``; not UTF-8 or out of bounds:
``wrong_schema``), ``negative_seq``, ``empty``, too many steps (``oversized``; before the payload is read, so
a hostile T costs nothing), the payload (cut short: ``not_decodable``; trailing bytes or a token not UTF-8:
``wrong_schema``), ``non_finite``. A pcm value (kind 3), after ``negative_seq``: its PCM header cut short
(``not_decodable``); an unknown encoding or segment code, reserved not 0 (``wrong_schema``); the rate or
channel count F out of range (``bad_pcm``); T = 0 (``empty``); T over ``sample_rate * max_pcm_ms // 1000``
(``oversized``, before the samples are read; ``max_steps`` does not apply); the samples' byte count, when it
is not exactly T * F * bytes per sample: not a whole number of samples × channels (``bad_pcm``, as v1's check
of the same bytes), else fewer samples than T (cut short: ``not_decodable``), else more (``wrong_schema``);
a NaN or infinite f32le sample (``non_finite``). :func:`encode_binary_event` writes what v1's
:class:`InputEvent` accepts and raises ``ValueError`` for anything else.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rnnstream.errors import EventError
from rnnstream.events.chunk_event import ChunkEvent, PcmData, PcmEncoding, PcmSegment, decoded_chunk_event
from rnnstream.events.models import (
    DEFAULT_MAX_PCM_MS,
    FRAME_DTYPE,
    INT64_MAX,
    PCM_DTYPES,
    PCM_MAX_CHANNELS,
    PCM_MAX_RATE,
    PCM_MIN_RATE,
    DeadLetterReason,
    pcm_samples,
)

#: The first four bytes of every v2 value.
MAGIC: Final = b"RNS2"
#: The fixed header: magic, kind, flags, reserved, seq, produced_at_ms, T, F, three string lengths, reserved.
HEADER: Final = struct.Struct("<4sBBHqqIIHHHH")
_HEADER_SIZE: Final = HEADER.size  # 40
_unpack_header = HEADER.unpack_from
#: Where ``produced_at_ms`` (int64, little-endian) sits: a producer may overwrite these 8 bytes in place.
PRODUCED_AT_OFFSET: Final = 16
KIND_FRAMES: Final = 1
KIND_TOKENS: Final = 2
KIND_PCM: Final = 3
FLAG_START: Final = 0x01
FLAG_END: Final = 0x02
FLAG_MODEL_VERSION: Final = 0x04
_KNOWN_FLAGS: Final = FLAG_START | FLAG_END | FLAG_MODEL_VERSION
#: Each token's length prefix (bytes of UTF-8 that follow).
TOKEN_LENGTH: Final = struct.Struct("<H")
#: The start of a pcm payload: sample_rate, encoding, segment, reserved (0); the samples follow.
PCM_HEADER: Final = struct.Struct("<IBBH")
#: The encoding and segment codes of :data:`PCM_HEADER`, and back.
PCM_ENCODINGS: Final[dict[int, PcmEncoding]] = {1: "s16le", 2: "f32le"}
PCM_SEGMENTS: Final[dict[int, PcmSegment]] = {0: "none", 1: "vad"}
PCM_ENCODING_CODES: Final[dict[str, int]] = {name: code for code, name in PCM_ENCODINGS.items()}
_PCM_SEGMENT_CODES: Final = {name: code for code, name in PCM_SEGMENTS.items()}
#: The longest stream id, model name or model version, in characters (v1's bound).
MAX_NAME_CHARS: Final = 256
_NATIVE_FRAMES: Final = FRAME_DTYPE.isnative  # little-endian machines: the wire's floats are the machine's
_U16_MAX: Final = 0xFFFF
_U32_MAX: Final = 0xFFFF_FFFF

_NOT_DECODABLE = DeadLetterReason.NOT_DECODABLE
_WRONG_SCHEMA = DeadLetterReason.WRONG_SCHEMA
_BAD_PCM = DeadLetterReason.BAD_PCM


def is_binary_event(raw: bytes) -> bool:
    """Whether ``raw`` is a v2 value (starts with :data:`MAGIC`); anything else is read as v1 JSON."""
    return raw[:4] == MAGIC


# --- PCM checks, shared with v1 (``rnnstream.events.codec``) ------------------------------------------------


def check_pcm_format(sample_rate: int, channels: int) -> None:
    """``bad_pcm`` unless the rate is in ``PCM_MIN_RATE..PCM_MAX_RATE`` and channels in
    ``1..PCM_MAX_CHANNELS``."""
    if not PCM_MIN_RATE <= sample_rate <= PCM_MAX_RATE:
        raise EventError(
            _BAD_PCM, f"sample_rate must be {PCM_MIN_RATE} to {PCM_MAX_RATE} Hz, got {sample_rate}"
        )
    if not 1 <= channels <= PCM_MAX_CHANNELS:
        raise EventError(_BAD_PCM, f"channels must be 1 to {PCM_MAX_CHANNELS}, got {channels}")


def pcm_limit(sample_rate: int, max_pcm_ms: int) -> int:
    """The most samples per channel one event may carry: ``max_pcm_ms`` of audio at ``sample_rate``."""
    return sample_rate * max_pcm_ms // 1000


def check_pcm_samples(steps: int, sample_rate: int, max_pcm_ms: int) -> None:
    """``empty`` for no samples, ``oversized`` for more than :func:`pcm_limit` per channel."""
    if steps == 0:
        raise EventError(DeadLetterReason.EMPTY, "the pcm payload holds no samples")
    limit = pcm_limit(sample_rate, max_pcm_ms)
    if steps > limit:
        raise EventError(
            DeadLetterReason.OVERSIZED,
            f"the pcm payload holds {steps} samples per channel, more than {limit} "
            f"({max_pcm_ms} ms at {sample_rate} Hz)",
        )


def odd_pcm_byte_count(size: int, encoding: str, channels: int) -> EventError | None:
    """``bad_pcm`` when ``size`` bytes are not a whole number of samples × channels, else ``None``."""
    sample_bytes = PCM_DTYPES[encoding].itemsize
    if size % (sample_bytes * channels) == 0:
        return None
    return EventError(
        _BAD_PCM,
        f"odd byte count for {encoding} with {channels} channel(s): {size} bytes of samples is not a multiple "
        f"of {sample_bytes * channels} ({sample_bytes} bytes per sample × {channels} channels)",
    )


def finite_pcm(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``samples``, or ``non_finite`` naming the first sample (and its channel) that is NaN or infinite."""
    finite = np.isfinite(samples)
    if not finite.all():
        index, channel = (int(i) for i in np.argwhere(~finite)[0])
        raise EventError(
            DeadLetterReason.NON_FINITE, f"sample {index} (channel {channel}) holds NaN or infinity"
        )
    return samples


# --- decoding ----------------------------------------------------------------------------------------------


def _text(raw: bytes, start: int, stop: int, name: str) -> str:
    try:
        text = raw[start:stop].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventError(
            _WRONG_SCHEMA, f"{name} is not valid UTF-8 (byte {exc.start} of its {stop - start} bytes)"
        ) from exc
    if not 0 < len(text) <= MAX_NAME_CHARS:
        raise EventError(
            _WRONG_SCHEMA, f"{name} must be 1 to {MAX_NAME_CHARS} characters long, got {len(text)}"
        )
    return text


def _header_problem(kind: int, flags: int, reserved: int, width: int, version_length: int) -> str:
    if kind == KIND_FRAMES:
        if width == 0:
            return "a frames value (kind 1) needs a width F of at least 1, got 0"
    elif kind == KIND_TOKENS:
        if width != 0:
            return f"a tokens value (kind 2) has width F = 0, got {width}"
    elif kind != KIND_PCM:  # a pcm value's F is its channel count, checked with its rate (bad_pcm)
        return f"unknown kind {kind} (1: frames, 2: tokens, 3: pcm)"
    if flags & ~_KNOWN_FLAGS:
        return (
            f"unknown flag bits 0x{flags & ~_KNOWN_FLAGS:02x} in flags 0x{flags:02x} "
            "(bit 0: start, bit 1: end, bit 2: model_version present; the others must be 0)"
        )
    if reserved:
        return "the reserved header fields (bytes 6-7 and 38-39) must be 0"
    if version_length and not flags & FLAG_MODEL_VERSION:
        return f"model_version has {version_length} bytes but flag bit 2 (model_version present) is not set"
    return "the header is not valid"  # not reached: the caller checked that one of the above holds


def decode_binary_event(
    raw: bytes, *, max_bytes: int, max_steps: int, max_pcm_ms: int = DEFAULT_MAX_PCM_MS
) -> ChunkEvent:
    """Decode and structurally validate one v2 input event (the checks and their order: module docstring).

    The frames (and f32le samples) are a read-only view of ``raw`` (no copy). ``max_steps`` bounds frames and
    tokens, ``max_pcm_ms`` the audio of a pcm value. Raises :class:`EventError` with reason ``oversized``,
    ``not_decodable``, ``wrong_schema``, ``negative_seq``, ``empty``, ``bad_pcm`` or ``non_finite``.
    """
    size = len(raw)
    if size > max_bytes:
        raise EventError(DeadLetterReason.OVERSIZED, f"the value has {size} bytes, more than {max_bytes}")
    if size < _HEADER_SIZE:
        raise EventError(
            _NOT_DECODABLE, f"a v2 value has a {_HEADER_SIZE}-byte header, but this value ends at byte {size}"
        )
    (
        magic,
        kind,
        flags,
        reserved_a,
        seq,
        produced_at_ms,
        steps,
        width,
        id_len,
        model_len,
        version_len,
        reserved_b,
    ) = _unpack_header(raw)
    if magic != MAGIC:
        raise EventError(_WRONG_SCHEMA, f"a v2 value starts with {MAGIC!r}, not {magic!r}")
    # one expression for the common case; the detail is worked out only for a bad header
    if (
        not (width if kind == KIND_FRAMES else (kind == KIND_TOKENS and not width) or kind == KIND_PCM)
        or flags & ~_KNOWN_FLAGS
        or reserved_a
        or reserved_b
        or (version_len and not flags & FLAG_MODEL_VERSION)
    ):
        raise EventError(
            _WRONG_SCHEMA, _header_problem(kind, flags, reserved_a | reserved_b, width, version_len)
        )
    if produced_at_ms < 0:
        raise EventError(_WRONG_SCHEMA, f"produced_at_ms must be >= 0, got {produced_at_ms}")
    model_at = _HEADER_SIZE + id_len
    version_at = model_at + model_len
    offset = version_at + version_len
    if offset > size:
        raise EventError(
            _NOT_DECODABLE,
            f"the value is cut short: its strings (stream_id {id_len}, model {model_len}, model_version "
            f"{version_len} bytes) run to byte {offset}, but it ends at byte {size}",
        )
    stream_id = _text(raw, _HEADER_SIZE, model_at, "stream_id")
    if "{" in stream_id or "}" in stream_id:
        raise EventError(_WRONG_SCHEMA, f"stream_id {stream_id!r} holds '{{' or '}}' (not allowed)")
    model = _text(raw, model_at, version_at, "model")
    model_version = _text(raw, version_at, offset, "model_version") if flags & FLAG_MODEL_VERSION else None
    if seq < 0:
        raise EventError(DeadLetterReason.NEGATIVE_SEQ, f"seq must be >= 0, got {seq}")
    frames: npt.NDArray[np.float32] | None = None
    tokens: tuple[str, ...] | None = None
    pcm: PcmData | None = None
    if kind == KIND_PCM:
        pcm = _pcm(raw, offset, steps, width, max_pcm_ms)
    elif not 0 < steps <= max_steps:
        what = "frames" if kind == KIND_FRAMES else "tokens"
        if steps == 0:
            raise EventError(DeadLetterReason.EMPTY, f"the {what} payload holds no steps")
        raise EventError(
            DeadLetterReason.OVERSIZED, f"the {what} payload holds {steps} steps, more than {max_steps}"
        )
    elif kind == KIND_FRAMES:
        frames = _frames(raw, offset, steps, width)
    else:
        tokens = _tokens(raw, offset, steps)
    return decoded_chunk_event(
        stream_id,
        seq,
        model,
        model_version,
        bool(flags & FLAG_START),
        bool(flags & FLAG_END),
        produced_at_ms,
        frames,
        tokens,
        pcm,
    )


def _pcm(raw: bytes, offset: int, steps: int, channels: int, max_pcm_ms: int) -> PcmData:
    size = len(raw)
    if size - offset < PCM_HEADER.size:
        raise EventError(
            _NOT_DECODABLE,
            f"the value is cut short: a pcm payload starts with a {PCM_HEADER.size}-byte PCM header after "
            f"byte {offset}, but the value ends at byte {size}",
        )
    sample_rate, encoding_code, segment_code, reserved = PCM_HEADER.unpack_from(raw, offset)
    encoding = PCM_ENCODINGS.get(encoding_code)
    if encoding is None:
        raise EventError(_WRONG_SCHEMA, f"unknown PCM encoding {encoding_code} (1: s16le, 2: f32le)")
    segment = PCM_SEGMENTS.get(segment_code)
    if segment is None:
        raise EventError(_WRONG_SCHEMA, f"unknown PCM segment {segment_code} (0: none, 1: vad)")
    if reserved:
        raise EventError(_WRONG_SCHEMA, "the reserved field of the PCM header (its bytes 6-7) must be 0")
    check_pcm_format(sample_rate, channels)
    check_pcm_samples(steps, sample_rate, max_pcm_ms)
    start = offset + PCM_HEADER.size
    have = size - start
    need = steps * channels * PCM_DTYPES[encoding].itemsize
    if have != need:
        odd = odd_pcm_byte_count(have, encoding, channels)
        if odd is not None:
            raise odd
        if have < need:
            raise EventError(
                _NOT_DECODABLE,
                f"the value is cut short: {steps} {encoding} samples × {channels} channels need {need} bytes "
                f"after byte {start}, it holds {have}",
            )
        raise EventError(
            _WRONG_SCHEMA,
            f"{have - need} bytes follow the {steps} samples × {channels} channels (the value must end there)",
        )
    samples = pcm_samples(raw, encoding, channels, start, steps * channels)
    if encoding == "f32le":
        finite_pcm(samples)
    return PcmData(encoding, sample_rate, channels, segment, samples)


def _frames(raw: bytes, offset: int, steps: int, width: int) -> npt.NDArray[np.float32]:
    count = steps * width
    need = count * FRAME_DTYPE.itemsize
    have = len(raw) - offset
    if have != need:
        if have < need:
            raise EventError(
                _NOT_DECODABLE,
                f"the value is cut short: frames [{steps}, {width}] need {need} bytes after byte {offset}, "
                f"it holds {have}",
            )
        raise EventError(
            _WRONG_SCHEMA,
            f"{have - need} bytes follow the frames [{steps}, {width}] (the value must end there)",
        )
    # a read-only view of ``raw`` (bytes), no copy; positional arguments: numpy parses keywords slowly
    frames: npt.NDArray[np.float32] = np.frombuffer(raw, FRAME_DTYPE, count, offset).reshape(steps, width)
    if not _NATIVE_FRAMES:
        frames = frames.astype(np.float32)  # big-endian machines only
    finite = np.isfinite(frames)
    if not finite.all():
        row = int(np.argwhere(~finite)[0][0])
        raise EventError(DeadLetterReason.NON_FINITE, f"frame {row} holds NaN or infinity")
    if frames.flags.writeable:  # raw was a bytearray or another writable buffer: the event must not change
        frames.flags.writeable = False
    return frames


def _tokens(raw: bytes, offset: int, steps: int) -> tuple[str, ...]:
    size = len(raw)
    unpack = TOKEN_LENGTH.unpack_from
    tokens: list[str] = []
    pos = offset
    for i in range(steps):
        if pos + 2 > size:
            raise EventError(
                _NOT_DECODABLE,
                f"the value is cut short: it ends before token {i} of {steps} (at byte {size})",
            )
        (length,) = unpack(raw, pos)
        pos += 2
        if pos + length > size:
            raise EventError(
                _NOT_DECODABLE,
                f"the value is cut short: token {i} of {steps} has {length} bytes from byte {pos}, "
                f"but the value ends at byte {size}",
            )
        try:
            tokens.append(raw[pos : pos + length].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise EventError(_WRONG_SCHEMA, f"token {i} is not valid UTF-8 (byte {exc.start})") from exc
        pos += length
    if pos != size:
        raise EventError(
            _WRONG_SCHEMA, f"{size - pos} bytes follow the {steps} tokens (the value must end there)"
        )
    return tuple(tokens)


def readable_fields(raw: bytes) -> dict[str, Any]:
    """``stream_id``, ``seq`` and ``model`` of a v2 value that may be broken, each ``None`` when it cannot be
    read (for dead letters: never raises)."""
    found: dict[str, Any] = {"stream_id": None, "seq": None, "model": None}
    if len(raw) < HEADER.size or not is_binary_event(raw):
        return found
    fields = HEADER.unpack_from(raw)
    found["seq"] = fields[4]
    pos = HEADER.size
    for name, length in (("stream_id", fields[8]), ("model", fields[9])):
        if pos + length > len(raw):
            break
        try:
            text = raw[pos : pos + length].decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if 0 < len(text) <= MAX_NAME_CHARS:
            found[name] = text
        pos += length
    return found


# --- encoding ----------------------------------------------------------------------------------------------


def _name_bytes(value: str, name: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_NAME_CHARS:
        raise ValueError(f"{name} must be 1 to {MAX_NAME_CHARS} characters long, got {len(value)}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{name} is not encodable as UTF-8 (a lone surrogate at character {exc.start})"
        ) from exc


def _int64(value: int, name: str) -> int:
    if type(value) is not int and not isinstance(value, np.integer):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"{name} must be between 0 and {INT64_MAX}, got {value}")
    return int(value)


def _token_parts(tokens: Sequence[str]) -> list[bytes]:
    if isinstance(tokens, str):
        raise ValueError("tokens must be a sequence of strings, not one string")
    parts: list[bytes] = []
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise ValueError(f"token {i} must be a string, got {type(token).__name__}")
        try:
            data = token.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"token {i} is not encodable as UTF-8 (a lone surrogate at {exc.start})"
            ) from exc
        if len(data) > _U16_MAX:
            raise ValueError(f"token {i} has {len(data)} bytes of UTF-8; v2 holds at most {_U16_MAX}")
        parts += (TOKEN_LENGTH.pack(len(data)), data)
    return parts


def encode_binary_event(
    *,
    stream_id: str,
    seq: int,
    model: str,
    model_version: str | None = None,
    start: bool = False,
    end: bool = False,
    produced_at_ms: int,
    frames: npt.ArrayLike | None = None,
    tokens: Sequence[str] | None = None,
    pcm: PcmData | None = None,
) -> bytes:
    """The v2 wire form of one chunk: ``frames`` (``[T, F]``, converted to float32), ``tokens`` or ``pcm``
    (raw audio, built with :func:`rnnstream.events.chunk_event.pcm_data`; s16le samples are written as
    ``x * 32768`` rounded and clipped to int16, so int16 given to ``pcm_data`` arrives exactly).

    Raises ``ValueError`` for what v1's :class:`InputEvent` refuses too (a stream id of more than 256
    characters or with a brace, a negative seq, frames that are not two-dimensional, an unknown PCM encoding,
    ...) and for what v2 cannot hold (a sample rate beyond uint32). Limits that are the worker's (no steps,
    too many steps, NaN, a PCM rate or channel count out of range) are not checked: the worker dead-letters
    those.
    """
    if (frames is not None) + (tokens is not None) + (pcm is not None) != 1:
        raise ValueError("give exactly one of frames, tokens and pcm")
    id_bytes = _name_bytes(stream_id, "stream_id")
    if "{" in stream_id or "}" in stream_id:
        raise ValueError(f"stream_id {stream_id!r} must not hold '{{' or '}}'")
    model_bytes = _name_bytes(model, "model")
    version_bytes = b"" if model_version is None else _name_bytes(model_version, "model_version")
    flags = (
        (FLAG_START if start else 0)
        | (FLAG_END if end else 0)
        | (FLAG_MODEL_VERSION if model_version is not None else 0)
    )
    parts: list[bytes]
    if frames is not None:
        array = np.ascontiguousarray(np.asarray(frames, dtype=FRAME_DTYPE))
        if array.ndim != 2:
            raise ValueError(f"frames must be two-dimensional [T, F], not of shape {array.shape}")
        steps, width = array.shape
        if width < 1:
            raise ValueError("frames need at least one feature per frame (F >= 1)")
        kind, parts = KIND_FRAMES, [array.tobytes()]
    elif pcm is not None:
        kind, steps, width, parts = KIND_PCM, *_pcm_parts(pcm)
    else:
        assert tokens is not None
        kind, width, steps = KIND_TOKENS, 0, len(tokens)
        parts = _token_parts(tokens)
    if steps > _U32_MAX or width > _U32_MAX:
        raise ValueError(f"[T, F] = [{steps}, {width}] does not fit v2's 32-bit counts")
    header = HEADER.pack(
        MAGIC,
        kind,
        flags,
        0,
        _int64(seq, "seq"),
        _int64(produced_at_ms, "produced_at_ms"),
        steps,
        width,
        len(id_bytes),
        len(model_bytes),
        len(version_bytes),
        0,
    )
    return b"".join([header, id_bytes, model_bytes, version_bytes, *parts])


def _pcm_parts(pcm: PcmData) -> tuple[int, int, list[bytes]]:
    if not isinstance(pcm, PcmData):
        raise ValueError(f"pcm must be a PcmData (see pcm_data), got {type(pcm).__name__}")
    encoding = PCM_ENCODING_CODES.get(pcm.encoding)
    if encoding is None:
        raise ValueError(f"unknown PCM encoding {pcm.encoding!r} (s16le or f32le)")
    segment = _PCM_SEGMENT_CODES.get(pcm.segment)
    if segment is None:
        raise ValueError(f"unknown PCM segment {pcm.segment!r} (none or vad)")
    rate = pcm.sample_rate
    if (type(rate) is not int and not isinstance(rate, np.integer)) or not 0 <= rate <= _U32_MAX:
        raise ValueError(f"sample_rate must be an integer from 0 to {_U32_MAX}, got {rate!r}")
    samples = np.asarray(pcm.samples)
    if samples.ndim != 2 or samples.shape[1] != pcm.channels:
        raise ValueError(f"samples must be [n, {pcm.channels}] (n, channels), not of shape {samples.shape}")
    header = PCM_HEADER.pack(int(rate), encoding, segment, 0)
    return samples.shape[0], pcm.channels, [header, pcm.wire_bytes()]


def encode_chunk_event(event: ChunkEvent) -> bytes:
    """:func:`encode_binary_event` of a :class:`ChunkEvent`."""
    return encode_binary_event(
        stream_id=event.stream_id,
        seq=event.seq,
        model=event.model,
        model_version=event.model_version,
        start=event.start,
        end=event.end,
        produced_at_ms=event.produced_at_ms,
        frames=event.frames,
        tokens=event.tokens,
        pcm=event.pcm,
    )
