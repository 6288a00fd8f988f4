"""Errors raised by the serving package.

The tree::

    RnnstreamError
    ├── ConfigurationError          settings or files that cannot work (bad model repository, bad manifest)
    │   └── ModelNotFoundError      no such model name/version in the repository
    ├── InputError                  one input cannot be processed; the service goes on with the others
    │   ├── InputTooShortError      audio shorter than one analysis frame
    │   └── EventError              an event fails validation; carries a machine-readable ``reason``
    ├── StateError                  the state store failed (an outage: retry) ...
    │   └── StateCodecError         ... or a record cannot be encoded or decoded (content: never retried)
    ├── PublishError                the broker did not acknowledge published records (an outage: retry)
    └── ServiceError                a local service (broker, Redis) could not be started or reached

Adapters translate third-party errors at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class RnnstreamError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(RnnstreamError):
    """Settings, a manifest or a model repository that cannot work."""


class ModelNotFoundError(ConfigurationError):
    """The model repository has no model of that name or version."""


class InputError(RnnstreamError):
    """One input cannot be processed; callers report it and carry on with the others."""


class InputTooShortError(InputError):
    """Audio shorter than one analysis frame: no feature frame can be computed."""


class EventError(InputError):
    """An event failed validation.

    ``reason`` is a short machine-readable code (see ``rnnstream.events.models.DeadLetterReason``);
    the message says what was wrong in words.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class StateError(RnnstreamError):
    """The state store failed, or a stored state is unusable."""


class StateCodecError(StateError):
    """A stored state value could not be decoded."""


class PublishError(RnnstreamError):
    """The broker did not acknowledge records the worker published; the caller retries the publish."""


class ServiceError(RnnstreamError):
    """A local service (broker, Redis) could not be started, stopped or reached."""
