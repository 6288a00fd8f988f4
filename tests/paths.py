"""Where tests find the repository and the shared datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = ROOT / "models" / "repository"
SHARED_DATA = Path(os.environ.get("RNNSTREAM_SHARED_DATA", ROOT.parent / "shared" / "data"))
FSDD = SHARED_DATA / "fsdd"
SMS = SHARED_DATA / "sms_spam_collection"
# The versions the worker serves by default (the latest) and the first ones, which must still load and work.
# AUDIO_MODEL is the LSTM most tests drive; AUDIO_MODEL_GRU is the producers' default audio model.
AUDIO_MODEL = REPOSITORY / "fsdd-digits-lstm" / "2"
AUDIO_MODEL_GRU = REPOSITORY / "fsdd-digits-gru" / "2"
AUDIO_MODEL_GRU_V1 = REPOSITORY / "fsdd-digits-gru" / "1"
TEXT_MODEL = REPOSITORY / "sms-spam-lstm" / "2"
AUDIO_MODEL_V1 = REPOSITORY / "fsdd-digits-lstm" / "1"
TEXT_MODEL_V1 = REPOSITORY / "sms-spam-lstm" / "1"


def require_shared() -> None:
    """Fail (not skip) when the datasets are missing: these tests are part of the contract."""
    if not FSDD.is_dir() or not SMS.is_dir():
        pytest.fail(f"shared datasets not found at {SHARED_DATA} (set RNNSTREAM_SHARED_DATA)")


def fsdd_slice(root: Path, speakers: list[str], *, step: int, limit: int | None = None) -> Path:
    """A small FSDD under ``root``: of each speaker's recordings (sorted), every ``step``-th, at most
    ``limit``, symlinked into ``root/recordings``; so training on it takes seconds."""
    require_shared()
    (root / "recordings").mkdir()
    for speaker in speakers:
        for path in sorted((FSDD / "recordings").glob(f"*_{speaker}_*.wav"))[::step][:limit]:
            (root / "recordings" / path.name).symlink_to(path)
    return root
