"""The whole path: ``rnnstream produce audio`` → worker (faust, Redis state) → ``rnnstream tail --json``.

On recordings no test has seen (44.1 and 48 kHz stereo, 22.05 kHz and longer than any FSDD clip), the final
prediction of every stream must equal ``rnnstream predict`` on the same file: same label, every score within
1e-5, every frame seen. All through the real command lines, as a user would run them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rnnstream.clients.target import DEFAULT_AUDIO_MODEL
from rnnstream.localservices.cleanup import delete_keys
from tests.integration.audio_inputs import make_inputs
from tests.integration.worker_process import Topics, WorkerProcess
from tests.paths import REPOSITORY, ROOT

pytestmark = [pytest.mark.services, pytest.mark.slow]

RNNSTREAM = str(Path(sys.executable).parent / "rnnstream")
SCORE_TOLERANCE = 1e-5


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RNNSTREAM, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _tail_of(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@pytest.fixture
def worker(broker_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A worker on its own topics, Redis key prefix and consumer group; yields the topic names."""
    ns = Topics()
    w = WorkerProcess(
        ns.env(broker_bootstrap, redis_url) | {"RNNSTREAM_STATE_TTL_S": "600"}, tmp_path / "worker.log"
    )
    try:
        w.wait_ready(30)
        yield {"input": ns.input, "predictions": ns.predictions, "deadletter": ns.dead_letters}
    finally:
        w.stop()
        asyncio.run(delete_keys(redis_url, ns.key_prefix))


def test_streamed_final_predictions_equal_offline_predict(
    broker_bootstrap: str, worker: dict[str, str], tmp_path: Path
) -> None:
    inputs = make_inputs(tmp_path / "audio")
    files = [str(inputs[name]) for name in ("stereo44k", "long22k", "stereo48k")]

    tail = subprocess.Popen(
        [
            RNNSTREAM,
            "tail",
            "--broker",
            broker_bootstrap,
            "--topic",
            worker["predictions"],
            "--from-beginning",
            "--json",
            "--final-only",
            "--until-final",
            str(len(files)),
            "--timeout",
            "120",
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        produced = _run(
            "produce",
            "audio",
            *files,
            "--broker",
            broker_bootstrap,
            "--topic",
            worker["input"],
            "--repository",
            str(REPOSITORY),
            "--json",
            "--quiet",
        )
        assert produced.returncode == 0, produced.stdout + produced.stderr
        streams = {line["stream_id"]: line for line in map(json.loads, produced.stdout.splitlines())}
        assert sorted(line["file"] for line in streams.values()) == sorted(files)
        out, err = tail.communicate(timeout=150)
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.communicate()
    assert tail.returncode == 0, err
    finals: dict[str, dict[str, Any]] = {}
    for line in out.splitlines():
        event = json.loads(line)
        finals[event["stream_id"]] = event
    assert set(finals) == set(streams), (out, err)

    # `produce audio` names the default audio model; predict the same one offline.
    offline = _run("predict", DEFAULT_AUDIO_MODEL, *files, "--repository", str(REPOSITORY), "--json")
    assert offline.returncode == 0, offline.stderr
    reference = {doc["input"]: doc for doc in map(json.loads, offline.stdout.splitlines())}

    for stream_id, sent in streams.items():
        final, expected = finals[stream_id], reference[sent["file"]]
        assert final["final"] and not final["gap"]
        assert final["model"] == DEFAULT_AUDIO_MODEL
        assert final["seq"] == sent["chunks"] - 1
        assert final["steps_seen"] == sent["frames"] == expected["steps"]
        assert final["label"] == expected["label"], sent["file"]
        assert final["scores"].keys() == expected["scores"].keys()
        worst = max(abs(final["scores"][k] - v) for k, v in expected["scores"].items())
        assert worst <= SCORE_TOLERANCE, f"{sent['file']}: scores differ by {worst:.2e}"


def test_the_client_example_runs_against_a_worker(broker_bootstrap: str, worker: dict[str, str]) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "examples/client_example.py",
            "--broker",
            broker_bootstrap,
            "--input-topic",
            worker["input"],
            "--prediction-topic",
            worker["predictions"],
            "--repository",
            str(REPOSITORY),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "final after" in proc.stdout
    assert "→ spam" in proc.stdout or "→ ham" in proc.stdout
