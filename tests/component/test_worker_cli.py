"""``rnnstream worker`` refuses bad settings with a clear message and exit status 2, before touching Kafka."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rnnstream.cli.main import app
from tests.paths import REPOSITORY


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RNNSTREAM_MODELS": "nope"}, "no model named 'nope'"),
        ({"RNNSTREAM_MODELS": "sms-spam-lstm:9"}, "has no version '9'"),
        ({"RNNSTREAM_GAP_POLICY": "bogus"}, "RNNSTREAM_GAP_POLICY"),
        ({"RNNSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "RNNSTREAM_KAFKA_SASL"),
    ],
)
def test_bad_settings_fail_fast(env: dict[str, str], message: str) -> None:
    res = CliRunner().invoke(app, ["worker"], env={"RNNSTREAM_MODEL_REPOSITORY": str(REPOSITORY), **env})
    assert res.exit_code == 2
    assert message in res.output
