"""One reading of the Kafka security settings serves both clients: faust's credentials and aiokafka's
keyword arguments agree for every protocol."""

from __future__ import annotations

import ssl

import faust

from rnnstream.worker.kafka_client import KafkaConnection
from rnnstream.worker.settings import load_settings


def test_plaintext_has_no_credentials() -> None:
    connection = KafkaConnection.from_settings(load_settings(broker="kafka://a:9092,b:9092"))
    assert connection.faust_credentials() is None
    assert connection.aiokafka_kwargs() == {
        "bootstrap_servers": ["a:9092", "b:9092"],
        "security_protocol": "PLAINTEXT",
    }


def test_ssl_gives_the_same_context_to_both_clients() -> None:
    connection = KafkaConnection.from_settings(load_settings(kafka_security_protocol="SSL"))
    credentials = connection.faust_credentials()
    assert isinstance(credentials, faust.SSLCredentials)
    assert isinstance(connection.ssl_context, ssl.SSLContext)
    assert connection.aiokafka_kwargs()["ssl_context"] is connection.ssl_context
    assert "sasl_mechanism" not in connection.aiokafka_kwargs()


def test_sasl_ssl_carries_mechanism_user_and_password_to_both_clients() -> None:
    settings = load_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password="pw",
    )
    connection = KafkaConnection.from_settings(settings)
    credentials = connection.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("svc", "pw")
    assert credentials.ssl_context is connection.ssl_context is not None
    kw = connection.aiokafka_kwargs()
    assert (
        kw["security_protocol"],
        kw["sasl_mechanism"],
        kw["sasl_plain_username"],
        kw["sasl_plain_password"],
    ) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        "svc",
        "pw",
    )
