"""Any-language interop end to end: kcat produces the input event docs/clients.md shows, a real worker
predicts, and kcat reads the prediction, which equals ``rnnstream predict`` on the same text."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rnnstream.events import decode_prediction
from rnnstream.features.text import tokenize
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from tests.integration.kcat_compat import kcat_friendly_broker
from tests.integration.worker_process import Topics, WorkerProcess
from tests.paths import ROOT, TEXT_MODEL

pytestmark = pytest.mark.services


@pytest.fixture
def kcat() -> str:
    found = shutil.which("kcat")
    if found is None:
        pytest.fail(
            "kcat is not on PATH: install the Debian package with 'apt-get install -y kcat' (make setup)"
        )
    return found


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    with kcat_friendly_broker(tmp_path / "tansu.log") as address:
        yield address


def _docs_kcat_line() -> str:
    """The produce example of docs/clients.md, as the docs print it."""
    text = (ROOT / "docs" / "clients.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("printf '%s\\t%s\\n' chat-7 "))
    return line.split(" ", 3)[3].rsplit(" ", 1)[0].strip("'")


def test_kcat_in_prediction_out(kcat: str, broker: str, redis_url: str, tmp_path: Path) -> None:
    ns = Topics()
    worker = WorkerProcess(ns.env(broker, redis_url), tmp_path / "worker.log")
    try:
        worker.wait_ready()
        value = _docs_kcat_line()
        event = json.loads(value)
        subprocess.run(
            [kcat, "-b", broker, "-P", "-t", ns.input, "-K", "\t", "-X", "partitioner=murmur2_random"],
            input=f"chat-7\t{value}\n",
            text=True,
            check=True,
            timeout=60,
        )
        deadline, rows = time.monotonic() + 60, []
        while not rows and time.monotonic() < deadline:
            out = subprocess.run(
                [
                    kcat,
                    "-b",
                    broker,
                    "-C",
                    "-t",
                    ns.predictions,
                    "-e",
                    "-o",
                    "beginning",
                    "-q",
                    "-f",
                    "%k\t%s\n",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            rows = [r.split("\t", 1) for r in out.stdout.splitlines() if r]
            time.sleep(0.3)
        assert rows, worker.log_tail()
        key, raw = rows[0]
        prediction = decode_prediction(raw.encode())
        assert key == "chat-7" and prediction.final and prediction.seq == 0
        model = OnnxModel(TEXT_MODEL)
        tokens = event["payload"]["tokens"]
        assert tokens == tokenize(" ".join(tokens))
        offline = predict_sequence(model, model.encode(tokens), 0)
        assert prediction.label == offline.label
        assert max(abs(prediction.scores[k] - v) for k, v in offline.scores.items()) <= 1e-5
    finally:
        assert worker.stop() == 0, worker.log_tail()
