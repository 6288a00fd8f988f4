"""The life of a worker process, in one place.

Start, in order: the state store and the ONNX executor exist once :func:`~rnnstream.worker.app.build_worker`
returns; :class:`WorkerService` starts the HTTP server (``/healthz`` answers from the first second); then
faust starts the app (consumer group, agent, timers). Stop, in reverse: faust stops the app first (the batch
in hand finishes, is stored, its offsets are committed, the producer is flushed); then :class:`WorkerService`
stops the HTTP server, shuts the executor down and closes the store.

The one exception, exiting at once without committing (status 75), belongs to the batch runner
(:func:`rnnstream.worker.batch_runner.exit_without_commit`); :class:`RnnstreamFaustWorker` tells it as soon as SIGTERM
or SIGINT arrives, so a batch stuck in an outage does not hold up faust's shutdown forever.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import faust
from aiohttp import web
from mode import Service

from rnnstream.worker.app import Worker
from rnnstream.worker.http import make_http_app


class WorkerService(Service):  # type: ignore[misc]
    """Starts the HTTP server before faust's app starts; after the app stopped, stops it and releases the
    executor and the store."""

    def __init__(self, worker: Worker, **kwargs: Any) -> None:
        self.worker = worker
        self._runner: web.AppRunner | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        if self.worker.batch_publisher is not None:
            await self.worker.batch_publisher.start()
        self._runner = web.AppRunner(make_http_app(self.worker), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.worker.settings.http_host, self.worker.settings.http_port)
        await site.start()

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self.worker.batch_publisher is not None:
            await self.worker.batch_publisher.stop()  # flushes what is queued
        self.worker.executor.shutdown(wait=True)
        await self.worker.store.close()


class RnnstreamFaustWorker(faust.Worker):  # type: ignore[misc]
    """faust's worker process running the app inside :class:`WorkerService`; it also sets the batch runner's
    ``stopping`` flag the moment SIGTERM or SIGINT arrives."""

    def __init__(self, w: Worker, **kwargs: Any) -> None:
        self._health = w.health
        super().__init__(w.app, WorkerService(w), **kwargs)
        # faust's terminal spinner sets the root logger to DEBUG so that every record spins it; then every
        # `log.debug` of aiokafka's hot path (one per record sent) builds a record that is thrown away
        self.spinner = None

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        if level:
            logger.setLevel(level)

    def _on_sigterm(self) -> None:
        self._health.stopping.set()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._health.stopping.set()
        super()._on_sigint()


def run_worker(w: Worker, *, loglevel: str) -> NoReturn:
    """Run the worker until it is stopped; never returns (faust exits the process)."""
    RnnstreamFaustWorker(w, loglevel=loglevel, quiet=True).execute_from_commandline()
    raise SystemExit(0)  # execute_from_commandline exits; this is for type checkers
