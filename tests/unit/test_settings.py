"""WorkerSettings: defaults, environment parsing, validation and immutability."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from rnnstream.core.chunk_rule import GapPolicy
from rnnstream.errors import ConfigurationError
from rnnstream.worker.settings import ENV_PREFIX, WorkerSettings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no RNNSTREAM_* variable set."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = load_settings()
    assert s.broker == "kafka://127.0.0.1:9092"
    assert s.broker_urls == ["kafka://127.0.0.1:9092"]
    assert s.bootstrap_servers == ["127.0.0.1:9092"]
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.redis_cluster is False
    assert s.redis_password is None
    assert s.redis_tls is False
    assert s.redis_key_prefix == "rnnstream"
    assert s.model_repository == Path("models/repository")
    assert s.models == []
    assert (s.input_topic, s.prediction_topic, s.dead_letter_topic) == (
        "rnnstream.events",
        "rnnstream.predictions",
        "rnnstream.deadletter",
    )
    assert s.topic_partitions == 8
    assert s.app_id == "rnnstream-worker"
    assert (s.batch_max_events, s.batch_timeout_ms, s.max_chunk_steps) == (256, 5, 2000)
    assert s.max_event_bytes == 1_048_576
    assert s.state_ttl_s == 3600
    assert s.gap_policy is GapPolicy.SKIP
    assert s.session_timeout_s == 6.0
    assert s.heartbeat_interval_s is None and s.heartbeat_s == 1.0  # a sixth of the session timeout
    assert s.fetch_max_wait_ms == 10
    assert (s.http_host, s.http_port) == ("0.0.0.0", 6066)
    assert s.kafka_security_protocol == "PLAINTEXT"
    assert s.kafka_sasl_mechanism is None
    assert s.kafka_sasl_username is None
    assert s.kafka_sasl_password is None
    assert s.kafka_ssl_cafile is None
    assert s.onnx_intra_op_threads == 1
    assert s.log_level == "INFO"


def test_every_field_documents_its_variable() -> None:
    for name, field in WorkerSettings.model_fields.items():
        assert field.description, name
        assert f"``{ENV_PREFIX}{name.upper()}``" in field.description, name


def test_environment_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "RNNSTREAM_BROKER": "kafka://k1:9092, k2:9093",
        "RNNSTREAM_REDIS_URL": "rediss://default:s3cret@redis.example:6380/2",
        "RNNSTREAM_REDIS_CLUSTER": "true",
        "RNNSTREAM_REDIS_PASSWORD": "hunter2",
        "RNNSTREAM_MODELS": "fsdd_gru, sms_lstm:3",
        "RNNSTREAM_MODEL_REPOSITORY": "/app/models/repository",
        "RNNSTREAM_GAP_POLICY": "Reject",
        "RNNSTREAM_BATCH_MAX_EVENTS": "512",
        "RNNSTREAM_SESSION_TIMEOUT_S": "10.5",
        "RNNSTREAM_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "RNNSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "RNNSTREAM_KAFKA_SASL_USERNAME": "worker",
        "RNNSTREAM_KAFKA_SASL_PASSWORD": "pw",
        "RNNSTREAM_KAFKA_SSL_CAFILE": "/etc/rnnstream/kafka-ca/ca.crt",
        "RNNSTREAM_LOG_LEVEL": "debug",
        "RNNSTREAM_HTTP_PORT": "7000",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings()
    assert s.broker_urls == ["kafka://k1:9092", "kafka://k2:9093"]
    assert s.bootstrap_servers == ["k1:9092", "k2:9093"]
    assert s.redis_cluster is True
    assert s.redis_uses_tls is True
    assert isinstance(s.redis_password, SecretStr)
    assert s.redis_password.get_secret_value() == "hunter2"
    assert s.models == ["fsdd_gru", "sms_lstm:3"]
    assert s.model_selectors == [("fsdd_gru", None), ("sms_lstm", "3")]
    assert s.model_repository == Path("/app/models/repository")
    assert s.gap_policy is GapPolicy.REJECT
    assert s.batch_max_events == 512
    assert s.session_timeout_s == 10.5
    assert s.kafka_security_protocol == "SASL_SSL"
    assert s.kafka_uses_tls is True
    assert s.kafka_ssl_cafile == Path("/etc/rnnstream/kafka-ca/ca.crt")
    assert s.log_level == "DEBUG"
    assert s.http_port == 7000


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNSTREAM_APP_ID", "from-env")
    assert load_settings().app_id == "from-env"
    assert load_settings(app_id="from-code").app_id == "from-code"


def test_empty_variable_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNSTREAM_KAFKA_SASL_MECHANISM", "")
    monkeypatch.setenv("RNNSTREAM_MODELS", "")
    s = load_settings()
    assert s.kafka_sasl_mechanism is None
    assert s.models == []


def test_nothing_is_read_at_import_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNSTREAM_INPUT_TOPIC", "later")
    assert load_settings().input_topic == "later"


def test_secrets_stay_out_of_repr_and_errors() -> None:
    s = load_settings(
        redis_url="redis://user:topsecret@redis:6379/0",
        redis_password="alsosecret",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password="kafkasecret",
    )
    text = repr(s) + str(s)
    for secret in ("topsecret", "alsosecret", "kafkasecret"):
        assert secret not in text
    assert s.redis_url_redacted == "redis://user:***@redis:6379/0"
    with pytest.raises(ConfigurationError) as caught:
        load_settings(redis_url="http://user:topsecret@redis")
    assert "topsecret" not in str(caught.value)
    assert "RNNSTREAM_REDIS_URL" in str(caught.value)


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValidationError):
        s.batch_max_events = 1


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"batch_max_events": 0}, "RNNSTREAM_BATCH_MAX_EVENTS"),
        ({"topic_partitions": -1}, "RNNSTREAM_TOPIC_PARTITIONS"),
        ({"max_chunk_steps": 0}, "RNNSTREAM_MAX_CHUNK_STEPS"),
        ({"max_event_bytes": 0}, "RNNSTREAM_MAX_EVENT_BYTES"),
        ({"state_ttl_s": 0}, "RNNSTREAM_STATE_TTL_S"),
        ({"batch_timeout_ms": -1}, "RNNSTREAM_BATCH_TIMEOUT_MS"),
        ({"session_timeout_s": 0}, "RNNSTREAM_SESSION_TIMEOUT_S"),
        ({"heartbeat_interval_s": 0}, "RNNSTREAM_HEARTBEAT_INTERVAL_S"),
        ({"heartbeat_interval_s": 6.0}, "RNNSTREAM_HEARTBEAT_INTERVAL_S"),
        ({"http_port": 70000}, "RNNSTREAM_HTTP_PORT"),
        ({"gap_policy": "ignore"}, "RNNSTREAM_GAP_POLICY"),
        ({"log_level": "LOUD"}, "RNNSTREAM_LOG_LEVEL"),
        ({"kafka_security_protocol": "TLS"}, "RNNSTREAM_KAFKA_SECURITY_PROTOCOL"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "RNNSTREAM_KAFKA_SASL_MECHANISM"),
        ({"broker": "kafka://nohostport"}, "RNNSTREAM_BROKER"),
        ({"broker": "k1:9092,,k2:9092"}, "RNNSTREAM_BROKER"),
        ({"input_topic": "bad topic"}, "RNNSTREAM_INPUT_TOPIC"),
        ({"app_id": ""}, "RNNSTREAM_APP_ID"),
        ({"redis_url": "http://localhost"}, "RNNSTREAM_REDIS_URL"),
        ({"redis_key_prefix": "a{b}"}, "RNNSTREAM_REDIS_KEY_PREFIX"),
        ({"models": "a:1:2"}, "RNNSTREAM_MODELS"),
        ({"models": "a,a:2"}, "RNNSTREAM_MODELS"),
    ],
)
def test_invalid_values_are_rejected(overrides: dict[str, object], variable: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**overrides)
    assert variable in str(caught.value)


def test_the_heartbeat_follows_the_session_timeout_unless_set() -> None:
    assert load_settings(session_timeout_s=3.0).heartbeat_s == 0.5
    assert load_settings(session_timeout_s=0.6).heartbeat_s == 0.2
    assert load_settings(session_timeout_s=10.0, heartbeat_interval_s=3.0).heartbeat_s == 3.0


def test_invalid_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNSTREAM_BATCH_MAX_EVENTS", "many")
    with pytest.raises(ConfigurationError, match="RNNSTREAM_BATCH_MAX_EVENTS"):
        load_settings()


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="RNNSTREAM_BATCH_MAX_EVENT"):
        load_settings(batch_max_event=3)


def test_sasl_needs_mechanism_and_credentials() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256")
    message = str(caught.value)
    assert "RNNSTREAM_KAFKA_SASL_USERNAME" in message
    assert "RNNSTREAM_KAFKA_SASL_PASSWORD" in message
    assert "RNNSTREAM_KAFKA_SASL_MECHANISM" not in message


def test_sasl_mechanism_without_sasl_protocol_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="not SASL"):
        load_settings(kafka_sasl_mechanism="PLAIN")


def test_cafile_needs_tls_protocol() -> None:
    with pytest.raises(ConfigurationError, match="SSL"):
        load_settings(kafka_ssl_cafile="/ca.crt")
    assert load_settings(kafka_security_protocol="SSL", kafka_ssl_cafile="/ca.crt").kafka_uses_tls


def test_redacted_url_without_password_is_unchanged() -> None:
    assert load_settings(redis_url="unix:///run/redis.sock").redis_url_redacted == "unix:///run/redis.sock"
