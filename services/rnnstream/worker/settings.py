"""Worker settings: typed, validated and frozen, read from ``RNNSTREAM_*`` environment variables.

Nothing is read at import time: :func:`load_settings` reads the environment when it is called, and its keyword
arguments win over the environment (tests pass values directly). Every field below documents its variable;
``docs/operations.md`` has the same list with advice on tuning.

Lists are comma-separated in the environment (``RNNSTREAM_MODELS=fsdd_gru,sms_lstm:3``). An empty variable
is the same as an unset one, so a Kubernetes ConfigMap may carry blank keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rnnstream.core.chunk_rule import GapPolicy
from rnnstream.errors import ConfigurationError
from rnnstream.events.models import (
    DEFAULT_DEAD_LETTER_TOPIC,
    DEFAULT_INPUT_TOPIC,
    DEFAULT_MAX_CHUNK_STEPS,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_PCM_MS,
    DEFAULT_PREDICTION_TOPIC,
)
from rnnstream.repository import DEFAULT_REPOSITORY
from rnnstream.runtime.pcm import EndpointSettings

ENV_PREFIX = "RNNSTREAM_"

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_MODEL_SELECTOR_RE = re.compile(r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$")
_BROKER_RE = re.compile(r"^(kafka://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
_REDIS_SCHEMES = ("redis", "rediss", "unix")

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class WorkerSettings(BaseSettings):
    """Everything the worker can be told. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        case_sensitive=False,
        env_ignore_empty=True,
        use_attribute_docstrings=True,
        validate_default=True,
    )

    # --- Kafka -------------------------------------------------------------------------------------
    broker: str = "kafka://127.0.0.1:9092"
    """``RNNSTREAM_BROKER``: Kafka bootstrap servers, comma-separated, each ``kafka://host:port`` or
    ``host:port``."""

    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    """``RNNSTREAM_KAFKA_SECURITY_PROTOCOL``: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``."""

    kafka_sasl_mechanism: KafkaSaslMechanism | None = None
    """``RNNSTREAM_KAFKA_SASL_MECHANISM``: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``; SASL protocols
    only."""

    kafka_sasl_username: str | None = None
    """``RNNSTREAM_KAFKA_SASL_USERNAME``: SASL user name; required with a SASL protocol."""

    kafka_sasl_password: SecretStr | None = None
    """``RNNSTREAM_KAFKA_SASL_PASSWORD``: SASL password, required with a SASL protocol (from a Secret)."""

    kafka_ssl_cafile: Path | None = None
    """``RNNSTREAM_KAFKA_SSL_CAFILE``: PEM file of the CA that signed the brokers' certificates (SSL
    protocols); unset means the system trust store."""

    input_topic: str = DEFAULT_INPUT_TOPIC
    """``RNNSTREAM_INPUT_TOPIC``: topic of incoming events, keyed by stream id."""

    prediction_topic: str = DEFAULT_PREDICTION_TOPIC
    """``RNNSTREAM_PREDICTION_TOPIC``: topic the predictions are published to, keyed by stream id."""

    dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC
    """``RNNSTREAM_DEAD_LETTER_TOPIC``: topic of events that could not be processed, each with a reason."""

    topic_partitions: PositiveInt = 8
    """``RNNSTREAM_TOPIC_PARTITIONS``: partitions of the topics the worker creates; also the most workers that
    can share the load (one consumer per partition)."""

    app_id: str = "rnnstream-worker"
    """``RNNSTREAM_APP_ID``: faust app id, which is the Kafka consumer group; workers with the same id share
    the partitions."""

    session_timeout_s: float = Field(default=6.0, gt=0)
    """``RNNSTREAM_SESSION_TIMEOUT_S``: Kafka consumer session timeout in seconds: how soon a dead worker's
    partitions move to the others."""

    heartbeat_interval_s: float | None = Field(default=None, gt=0)
    """``RNNSTREAM_HEARTBEAT_INTERVAL_S``: seconds between consumer heartbeats; unset: a sixth of the session
    timeout (at least 0.2 s). Must be below the session timeout. A dead worker is noticed between
    ``session - interval`` and ``session + interval`` after its last heartbeat, so a shorter interval makes
    failover quicker and steadier."""

    fetch_max_wait_ms: int = Field(default=10, ge=0)
    """``RNNSTREAM_FETCH_MAX_WAIT_MS``: longest the broker holds a fetch waiting for data, in milliseconds;
    small values trade broker load for latency."""

    # --- Batching ----------------------------------------------------------------------------------
    batch_max_events: PositiveInt = 256
    """``RNNSTREAM_BATCH_MAX_EVENTS``: most events taken from the topic into one batch."""

    batch_timeout_ms: int = Field(default=5, ge=0)
    """``RNNSTREAM_BATCH_TIMEOUT_MS``: longest a batch waits to fill up, in milliseconds (0: take what is
    there). Only with faust's per-event delivery (``RNNSTREAM_BATCH_INTAKE=false``): the batched intake
    takes what has been fetched, which grows by itself while the batch before is stepped and stored."""

    batch_intake: bool = True
    """``RNNSTREAM_BATCH_INTAKE``: take the input records from faust's consumer a fetch at a time
    (``worker/intake.py``) instead of through faust's per-event delivery into the agent's stream; faust
    keeps the group, the offsets and the lifecycle either way. ``false`` brings faust's delivery back (and
    ``RNNSTREAM_BATCH_TIMEOUT_MS`` with it), for comparison."""

    pipeline_batches: bool = True
    """``RNNSTREAM_PIPELINE_BATCHES``: prepare (decode, load, step) the next batch while the one before is
    published and stored, for batches of at least ``RNNSTREAM_PIPELINE_MIN_EVENTS``. The effects stay in
    order either way (docs/architecture.md); ``false`` runs one batch at a time, for comparison."""

    pipeline_min_events: PositiveInt | None = None
    """``RNNSTREAM_PIPELINE_MIN_EVENTS``: the smallest batch that is pipelined; smaller ones run one at a
    time (after the batch in the background is stored). Unset: ``RNNSTREAM_BATCH_MAX_EVENTS``, so only full
    batches, taken while more records wait (the worker is behind), are pipelined. Pipelining buys
    throughput when the worker is behind, but on one event loop the batch in the background is published
    and stored only between the next one's steps, so a worker that keeps up answers sooner one batch at a
    time (docs/benchmarks.md). 1: every batch is pipelined."""

    gc_freeze: bool = True
    """``RNNSTREAM_GC_FREEZE``: once the worker has started (at its first partition assignment), collect
    garbage and move every object alive then (models, clients, modules) out of the collector's reach
    (``gc.freeze``), so that a full collection no longer walks them: without it one stopped the event loop
    for about 100 ms every few seconds under load (docs/benchmarks.md)."""

    step_in_thread: bool = False
    """``RNNSTREAM_STEP_IN_THREAD``: run the model step in a thread beside the event loop instead of on it.
    Off by default: the hand-over between threads (and the GIL between them) cost more than the overlap gave
    on 2 cores (docs/benchmarks.md). ONNX Runtime releases the GIL while it computes either way."""

    publisher: Literal["batch", "faust"] = "batch"
    """``RNNSTREAM_PUBLISHER``: how predictions and dead letters are sent. ``batch``: the worker's own aiokafka
    producer, one record batch per partition per batch (the faster; docs/benchmarks.md); ``faust``: faust's
    producer, one ``send`` per record."""

    max_chunk_steps: PositiveInt = DEFAULT_MAX_CHUNK_STEPS
    """``RNNSTREAM_MAX_CHUNK_STEPS``: most time steps (feature frames or tokens) one event may carry; longer
    events go to the dead-letter topic."""

    max_event_bytes: PositiveInt = DEFAULT_MAX_EVENT_BYTES
    """``RNNSTREAM_MAX_EVENT_BYTES``: largest encoded event accepted, in bytes."""

    max_pcm_ms: PositiveInt = DEFAULT_MAX_PCM_MS
    """``RNNSTREAM_MAX_PCM_MS``: most audio one PCM event may carry, in milliseconds at its declared rate;
    longer packets go to the dead-letter topic (``oversized``)."""

    # --- Endpointing (PCM streams sent with ``segment: vad``; docs/events.md "Endpointing") ---------------
    vad_trailing_silence_s: PositiveFloat = 0.25
    """``RNNSTREAM_VAD_TRAILING_SILENCE_S``: an utterance ends after this much silence following speech. Keep
    it below the shortest pause that separates two utterances (sherpa-onnx's 1.2 s suits sentences)."""

    vad_max_utterance_s: PositiveFloat = 20.0
    """``RNNSTREAM_VAD_MAX_UTTERANCE_S``: an utterance that lasts this long is ended (and the next begins)."""

    vad_min_speech_s: PositiveFloat = 0.03
    """``RNNSTREAM_VAD_MIN_SPEECH_S``: loud frames in a row needed to start an utterance."""

    vad_preroll_s: NonNegativeFloat = 0.1
    """``RNNSTREAM_VAD_PREROLL_S``: audio before an utterance's start that the model also gets."""

    vad_postroll_s: NonNegativeFloat = 0.1
    """``RNNSTREAM_VAD_POSTROLL_S``: trailing silence after the last speech that the model also gets (at most
    the trailing silence)."""

    vad_onset_db: PositiveFloat = 7.0
    """``RNNSTREAM_VAD_ONSET_DB``: how far above the noise floor a frame must be to start an utterance."""

    vad_offset_db: PositiveFloat = 6.0
    """``RNNSTREAM_VAD_OFFSET_DB``: how far above the noise floor a frame must be to count as speech once an
    utterance is open (at most the onset threshold)."""

    gap_policy: GapPolicy = GapPolicy.SKIP
    """``RNNSTREAM_GAP_POLICY``: what a chunk after a missing one does: ``skip`` (advance anyway, counted),
    ``reset`` (start from zero state) or ``reject`` (dead letter ``gap``)."""

    # --- State (Redis) -----------------------------------------------------------------------------
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", repr=False)
    """``RNNSTREAM_REDIS_URL``: ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL of the state store. It
    may carry credentials; it is left out of ``repr`` and :attr:`redis_url_redacted` is the form to log."""

    redis_cluster: bool = False
    """``RNNSTREAM_REDIS_CLUSTER``: the URL names a node of a Redis Cluster (keys are hash-tagged on the
    stream id, so one stream's keys share a slot)."""

    redis_password: SecretStr | None = None
    """``RNNSTREAM_REDIS_PASSWORD``: Redis AUTH password, if not in the URL. Keep it in a Secret."""

    redis_tls: bool = False
    """``RNNSTREAM_REDIS_TLS``: connect to Redis with TLS (a ``rediss://`` URL implies it)."""

    redis_key_prefix: str = "rnnstream"
    """``RNNSTREAM_REDIS_KEY_PREFIX``: first part of every state key,
    ``{prefix}:{model}:{version}:{{stream}}``."""

    state_ttl_s: PositiveInt = 3600
    """``RNNSTREAM_STATE_TTL_S``: seconds a stream's state lives after its last write; an idle stream is
    forgotten after that, and a stream id must not be reused within it."""

    state_cache_entries: int = Field(default=100_000, ge=0)
    """``RNNSTREAM_STATE_CACHE_ENTRIES``: streams whose last stored record the worker keeps in memory, so
    their next chunk needs no Redis read (least recently used dropped first; 0 turns the cache off). An LSTM
    record of 2 layers x 128 units is about 2 KB, so the default holds up to about 200 MB. Records older than
    half of ``RNNSTREAM_STATE_TTL_S`` are read from Redis again."""

    state_epoch_check_s: float = Field(default=5.0, gt=0)
    """``RNNSTREAM_STATE_EPOCH_CHECK_S``: seconds between two reads of the state store's epoch; a changed epoch
    means the store lost its data (counted in ``rnnstream_state_epoch_changes_total``)."""

    # --- Models ------------------------------------------------------------------------------------
    model_repository: Path = DEFAULT_REPOSITORY
    """``RNNSTREAM_MODEL_REPOSITORY``: directory of ``<name>/<version>/`` model folders (in the image:
    ``/app/models/repository``)."""

    models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """``RNNSTREAM_MODELS``: models to serve, comma-separated, each ``name`` (its latest version) or
    ``name:version``; empty serves every model's latest version."""

    onnx_intra_op_threads: int = Field(default=1, ge=0)
    """``RNNSTREAM_ONNX_INTRA_OP_THREADS``: ONNX Runtime threads per call (0: one per core). Keep it at the
    CPU limit of the container."""

    # --- HTTP and logging --------------------------------------------------------------------------
    http_host: str = "0.0.0.0"
    """``RNNSTREAM_HTTP_HOST``: address the HTTP server (``/metrics``, ``/healthz``, ``/readyz``) binds."""

    http_port: int = Field(default=6066, ge=1, le=65535)
    """``RNNSTREAM_HTTP_PORT``: port of the HTTP server."""

    log_level: LogLevel = "INFO"
    """``RNNSTREAM_LOG_LEVEL``: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` or ``CRITICAL`` (any case)."""

    # --- Field validation --------------------------------------------------------------------------
    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        items = [item.strip() for item in value.split(",")]
        for item in items:
            if not _BROKER_RE.match(item):
                raise ValueError(f"broker {item!r} is not kafka://host:port or host:port")
        return ",".join(items)

    @field_validator("input_topic", "prediction_topic", "dead_letter_topic", "app_id")
    @classmethod
    def _check_topic_name(cls, value: str) -> str:
        if not _TOPIC_RE.match(value) or value in {".", ".."}:
            raise ValueError(f"{value!r} is not a valid Kafka topic or group name ([A-Za-z0-9._-], 1-249)")
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _MODEL_SELECTOR_RE.match(item):
                raise ValueError(f"model {item!r} is not 'name' or 'name:version'")
        names = [item.split(":", 1)[0] for item in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"model(s) named more than once: {', '.join(duplicates)}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in _REDIS_SCHEMES:
            schemes = ", ".join(f"{name}://" for name in _REDIS_SCHEMES)
            raise ValueError(f"redis_url must start with one of {schemes}")
        return value

    @field_validator("redis_key_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value or any(char in value for char in "{} \t\n"):
            raise ValueError("redis_key_prefix must be non-empty, without braces or whitespace")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_kafka_names(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("gap_policy", mode="before")
    @classmethod
    def _lower_gap_policy(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    vad_tail_db: PositiveFloat = 5.0
    """``RNNSTREAM_VAD_TAIL_DB``: when an utterance ends, quieter sounds in its trailing silence this far above
    the noise floor (a final /s/ after a stop) still count as the word's end (at most the offset threshold)."""

    @model_validator(mode="after")
    def _check_endpointing(self) -> WorkerSettings:
        if self.vad_offset_db > self.vad_onset_db:
            raise ValueError("vad_offset_db must not exceed vad_onset_db")
        if self.vad_tail_db > self.vad_offset_db:
            raise ValueError("vad_tail_db must not exceed vad_offset_db")
        return self

    def endpointing(self) -> EndpointSettings:
        """The endpointing rules these settings name."""
        return EndpointSettings(
            trailing_silence_s=self.vad_trailing_silence_s,
            max_utterance_s=self.vad_max_utterance_s,
            min_speech_s=self.vad_min_speech_s,
            preroll_s=self.vad_preroll_s,
            postroll_s=self.vad_postroll_s,
            onset_db=self.vad_onset_db,
            offset_db=self.vad_offset_db,
            tail_db=self.vad_tail_db,
        )

    @model_validator(mode="after")
    def _check_kafka_auth(self) -> WorkerSettings:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl:
            missing = [
                name
                for name, present in (
                    ("kafka_sasl_mechanism", self.kafka_sasl_mechanism is not None),
                    ("kafka_sasl_username", bool(self.kafka_sasl_username)),
                    ("kafka_sasl_password", self.kafka_sasl_password is not None),
                )
                if not present
            ]
            if missing:
                env = ", ".join(ENV_PREFIX + name.upper() for name in missing)
                raise ValueError(f"kafka_security_protocol={self.kafka_security_protocol} needs {env}")
        elif self.kafka_sasl_mechanism is not None:
            raise ValueError("kafka_sasl_mechanism is set but kafka_security_protocol is not SASL_*")
        if self.kafka_ssl_cafile is not None and not self.kafka_uses_tls:
            raise ValueError("kafka_ssl_cafile is set but kafka_security_protocol is not SSL or SASL_SSL")
        if self.heartbeat_interval_s is not None and self.heartbeat_interval_s >= self.session_timeout_s:
            raise ValueError(f"{ENV_PREFIX}HEARTBEAT_INTERVAL_S must be below {ENV_PREFIX}SESSION_TIMEOUT_S")
        return self

    # --- Derived values ----------------------------------------------------------------------------
    @property
    def broker_urls(self) -> list[str]:
        """The brokers as ``kafka://host:port`` URLs, the form faust takes."""
        return [item if item.startswith("kafka://") else f"kafka://{item}" for item in self.broker.split(",")]

    @property
    def bootstrap_servers(self) -> list[str]:
        """The brokers as ``host:port``, the form aiokafka takes."""
        return [item.removeprefix("kafka://") for item in self.broker.split(",")]

    @property
    def heartbeat_s(self) -> float:
        """The heartbeat interval in use: :attr:`heartbeat_interval_s`, else a sixth of the session timeout."""
        if self.heartbeat_interval_s is not None:
            return self.heartbeat_interval_s
        return max(0.2, self.session_timeout_s / 6)

    @property
    def kafka_uses_tls(self) -> bool:
        """Whether the Kafka connection is encrypted (``SSL`` or ``SASL_SSL``)."""
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    @property
    def redis_uses_tls(self) -> bool:
        """Whether the Redis connection is encrypted (``redis_tls`` or a ``rediss://`` URL)."""
        return self.redis_tls or self.redis_url.startswith("rediss://")

    @property
    def redis_url_redacted(self) -> str:
        """The Redis URL with any password replaced by ``***``: safe to log."""
        parts = urlsplit(self.redis_url)
        if parts.password is None:
            return self.redis_url
        user = parts.username or ""
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))

    @property
    def model_selectors(self) -> list[tuple[str, str | None]]:
        """``models`` as ``(name, version or None)`` pairs; ``None`` means the latest version."""
        pairs: list[tuple[str, str | None]] = []
        for item in self.models:
            name, _, version = item.partition(":")
            pairs.append((name, version or None))
        return pairs


def load_settings(**overrides: Any) -> WorkerSettings:
    """Read the settings from the environment now; keyword arguments override the environment.

    Raises :class:`~rnnstream.errors.ConfigurationError` naming each invalid setting by its environment
    variable. The message never repeats the values given, since some of them are secrets.
    """
    try:
        return WorkerSettings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        where = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        lines.append(f"{where}: {error['msg']}")
    return "invalid worker settings:\n  " + "\n  ".join(lines)
