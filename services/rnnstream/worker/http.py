"""``/metrics``, ``/healthz`` and ``/readyz``: the aiohttp application of the worker's HTTP server (which
:class:`rnnstream.worker.service.WorkerService` runs from the first second, while the group still joins)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rnnstream.kafka.probe import answers_kafka
from rnnstream.worker.app import Worker


async def readiness(w: Worker) -> dict[str, Any]:
    """Each readiness check and whether it passes."""
    checks: dict[str, Any] = {
        "models_loaded": len(w.models) > 0,
        "group_joined": w.health.partitions_assigned,
    }
    try:
        checks["redis"] = await asyncio.wait_for(w.store.ping(), timeout=1.0)
    except Exception:  # any failure to answer is "not ready"
        checks["redis"] = False
    if w.settings.kafka_security_protocol == "PLAINTEXT":
        host, _, port = w.settings.bootstrap_servers[0].rpartition(":")
        loop = asyncio.get_running_loop()
        try:
            checks["broker"] = await asyncio.wait_for(
                loop.run_in_executor(None, answers_kafka, host, int(port)), timeout=2.0
            )
        except Exception:
            checks["broker"] = False
    else:  # TLS/SASL: the consumer's own connection is the check
        checks["broker"] = w.health.partitions_assigned
    checks["processing"] = w.health.processing_ok
    if w.health.last_error:
        checks["last_error"] = w.health.last_error
    return checks


def make_http_app(w: Worker) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        w.processor.refresh_gauges()
        return web.Response(body=generate_latest(w.prometheus), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await readiness(w)
        ready = all(v for k, v in checks.items() if k != "last_error")
        w.metrics.set_ready(ready)
        body = json.dumps({"ready": ready, "checks": checks})
        return web.Response(text=body, status=200 if ready else 503, content_type="application/json")

    http = web.Application()
    http.router.add_get("/metrics", metrics)
    http.router.add_get("/healthz", healthz)
    http.router.add_get("/readyz", readyz)
    return http
