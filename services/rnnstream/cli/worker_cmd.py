"""``rnnstream worker``: run one streaming worker from RNNSTREAM_* settings."""

from __future__ import annotations

import typer


def worker() -> None:
    """Run a streaming worker: consume input events from Kafka, advance each stream's RNN state (held in
    Redis) with batched ONNX Runtime steps, publish predictions and dead letters. Configured entirely by
    RNNSTREAM_* environment variables (see docs/operations.md); serves /metrics, /healthz and /readyz on
    RNNSTREAM_HTTP_PORT (6066). SIGTERM stops it gracefully: the batch in hand is finished and stored,
    offsets are committed, the producer is flushed. Stopped while Redis or the broker is out (or when the
    batch does not finish within 5 s), it exits with status 75 without committing: the batch is redelivered."""
    from rnnstream.errors import RnnstreamError
    from rnnstream.worker.app import build_worker
    from rnnstream.worker.service import run_worker
    from rnnstream.worker.settings import load_settings
    from rnnstream.worker.topics import ensure_topics_sync

    try:
        settings = load_settings()
        w = build_worker(settings)
        created = ensure_topics_sync(settings)
    except RnnstreamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    names = ", ".join(f"{m.name} v{m.version}" for m in w.models)
    typer.echo(
        f"rnnstream worker: models {names}; {settings.input_topic} → {settings.prediction_topic}; "
        f"Redis {settings.redis_url_redacted}; http :{settings.http_port}"
        + (f"; created topics {', '.join(created)}" if created else ""),
        err=True,
    )
    run_worker(w, loglevel=settings.log_level)
