"""How the worker connects to Kafka, from its settings, for both clients it uses: faust's credentials (the
consumer and producer of the app) and aiokafka's keyword arguments (the admin client that creates topics).
One place reads ``RNNSTREAM_KAFKA_*``, so TLS and SASL cannot drift apart between the two."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import faust

from rnnstream.worker.settings import WorkerSettings


@dataclass(frozen=True)
class KafkaConnection:
    """The bootstrap servers and the security of the settings' Kafka connection."""

    bootstrap_servers: list[str]
    security_protocol: str
    ssl_context: ssl.SSLContext | None
    sasl_mechanism: str | None
    sasl_username: str | None
    sasl_password: str | None

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> KafkaConnection:
        """Read the connection from the settings (a TLS context is made for SSL protocols)."""
        context = None
        if settings.kafka_uses_tls:
            cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
            context = ssl.create_default_context(cafile=cafile)
        sasl = settings.kafka_security_protocol.startswith("SASL")
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
        return cls(
            bootstrap_servers=list(settings.bootstrap_servers),
            security_protocol=settings.kafka_security_protocol,
            ssl_context=context,
            sasl_mechanism=(settings.kafka_sasl_mechanism or "PLAIN") if sasl else None,
            sasl_username=settings.kafka_sasl_username if sasl else None,
            sasl_password=password if sasl else None,
        )

    def faust_credentials(self) -> Any:
        """``broker_credentials`` for ``faust.App`` (``None`` for PLAINTEXT)."""
        if self.sasl_mechanism is not None:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password or "",
                mechanism=self.sasl_mechanism,
                ssl_context=self.ssl_context,
            )
        if self.ssl_context is not None:
            return faust.SSLCredentials(self.ssl_context)
        return None

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments for an aiokafka client."""
        kw: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.ssl_context is not None:
            kw["ssl_context"] = self.ssl_context
        if self.sasl_mechanism is not None:
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                kw["sasl_plain_password"] = self.sasl_password
        return kw
