"""The Kafka adapter the worker and the development tools share: a readiness probe that needs no client
library (:mod:`rnnstream.kafka.probe`)."""

from rnnstream.kafka.probe import BrokerAddress, answers_kafka, kafka_metadata

__all__ = ["BrokerAddress", "answers_kafka", "kafka_metadata"]
