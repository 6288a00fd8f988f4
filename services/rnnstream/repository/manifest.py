"""``manifest.json``: everything the serving side needs to know about one published model.

The offline side writes it (``rnnstream_offline.publish``), the serving side only reads it. A manifest names
the ONNX inputs and outputs by role, the recurrent state tensors (pairs of an input and an output), the
feature front-end (audio) or the vocabulary file (text), the labels, and how the model was trained.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MANIFEST_FORMAT_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TensorRole(StrEnum):
    """What an ONNX input or output is for."""

    FEATURES = "features"  # float32 [batch, time, n_mels]
    TOKENS = "tokens"  # int64 [batch, time]
    LENGTHS = "lengths"  # int32 [batch]: valid steps per row
    STATE = "state"  # float32 [layers, batch, hidden]
    LOGITS = "logits"  # float32 [batch, time, classes]


class TensorSpec(_Frozen):
    """One ONNX input or output."""

    name: str
    role: TensorRole
    dtype: Literal["float32", "int32", "int64"]
    shape: list[int | str] = Field(description="Dimensions; strings name dynamic axes (batch, time).")


class StateSpec(_Frozen):
    """A recurrent state tensor: fed in as ``input``, read back as ``output``."""

    input: str
    output: str
    layers: int = Field(gt=0)
    hidden: int = Field(gt=0)
    dtype: Literal["float32"] = "float32"


class LogMelConfig(_Frozen):
    """The audio front-end: mono at ``sample_rate``, then log-mel frames computed with librosa.

    Frames are not centred (``center=False``): frame ``t`` covers samples ``[t*hop, t*hop + n_fft)``, so a
    stream of samples yields exactly the frames of the whole recording, whatever the pieces.
    """

    sample_rate: int = Field(8000, gt=0)
    n_fft: int = Field(256, gt=0)
    win_length: int = Field(200, gt=0)
    hop_length: int = Field(80, gt=0)
    n_mels: int = Field(40, gt=0)
    fmin: float = Field(20.0, ge=0)
    fmax: float = Field(4000.0, gt=0)
    window: str = "hann"
    log_floor: float = Field(1e-6, gt=0)

    @model_validator(mode="after")
    def _check(self) -> LogMelConfig:
        if self.win_length > self.n_fft:
            raise ValueError("win_length must not exceed n_fft")
        if self.fmax > self.sample_rate / 2:
            raise ValueError("fmax must not exceed the Nyquist frequency")
        return self


class TextConfig(_Frozen):
    """The text front-end: the tokenizer rule and the vocabulary file beside the model."""

    tokenizer: Literal["words-v1"] = "words-v1"
    vocabulary_file: str = "vocab.json"
    vocabulary_size: int = Field(gt=2)


class ExtraAudioInfo(_Frozen):
    """Extra training recordings beside the dataset's (``rnnstream train --extra-audio``)."""

    folder: str
    recordings: int
    voices: int
    synthesiser: str | None = None  # the program that made them, when known
    note: str = ""


class TrainingInfo(_Frozen):
    """Where the model came from and how well it did."""

    dataset: str
    attribution: str
    license: str
    split: str
    n_train: int
    n_test: int
    epochs: int
    seed: int
    duration_s: float
    torch_version: str
    metrics: dict[str, float]
    train_speakers: list[str] | None = None  # audio: whose recordings it was trained on
    test_speakers: list[str] | None = None  # audio: whose recordings the test metrics are on
    extra_training_audio: ExtraAudioInfo | None = None  # audio: synthetic voices in the training split


class Verification(_Frozen):
    """Figures measured on export; a model that failed them is never published.

    ``onnx_vs_torch_max_abs``: class probabilities and ``h`` by max abs difference, logits and ``c`` by abs
    difference / max(1, |reference|) (see ``rnnstream_offline.verify``). ``chunked_vs_whole_max_abs``: the
    logits by max abs difference and the state tensors by abs difference / max(1, |whole-call value|),
    chunked (chunk sizes including 1) and padded-batch runs vs one call.
    """

    onnx_vs_torch_max_abs: float
    onnx_vs_torch_logits_max_abs: float
    chunked_vs_whole_max_abs: float
    tolerance: float
    n_sequences: int


class ModelCard(_Frozen):
    """What a user needs to judge whether a model fits (optional; also summarised in ``docs/models.md``)."""

    summary: str
    data: str = Field(description="Dataset, version and where it came from.")
    license: str = Field(description="Licence of the model (follows its training data).")
    splits: str = Field(description="How train and test were split.")
    tested_on: str = Field(description="Whose speech / which messages the test figures are on.")
    metrics: dict[str, float] = Field(description="Test-split figures of this model.")
    speaker_independent: dict[str, float] | None = Field(
        None,
        description="Leave-one-speaker-out accuracy of the same recipe, per held-out speaker and 'mean'.",
    )
    decision_rule: str | None = Field(None, description="How the emitted label is chosen from the scores.")
    training_recipe: str | None = None
    limits: list[str] = Field(default_factory=list)
    reproduce: list[str] = Field(default_factory=list, description="Commands that rebuild and score it.")


class Manifest(_Frozen):
    """The published description of one model version."""

    format_version: Literal[1] = 1
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field(pattern=r"^[0-9]+$")
    task: Literal["audio", "text"]
    description: str = ""
    labels: list[str] = Field(min_length=2)
    positive_label: str | None = None
    cell: Literal["rnn", "gru", "lstm"]
    layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    state: list[StateSpec]
    features: LogMelConfig | None = None
    text: TextConfig | None = None
    model_file: str = "model.onnx"
    model_sha256: str
    source_sha256: str = Field(description="SHA-256 over the offline package source that produced the model.")
    created_at: str
    training: TrainingInfo | None = None
    verification: Verification | None = None
    card: ModelCard | None = None

    @model_validator(mode="after")
    def _check(self) -> Manifest:
        if self.task == "audio" and self.features is None:
            raise ValueError("an audio model needs a 'features' section")
        if self.task == "text" and self.text is None:
            raise ValueError("a text model needs a 'text' section")
        if self.positive_label is not None and self.positive_label not in self.labels:
            raise ValueError("positive_label must be one of labels")
        names = {t.name for t in self.inputs} | {t.name for t in self.outputs}
        for s in self.state:
            if s.input not in names or s.output not in names:
                raise ValueError(f"state {s.input}->{s.output} names an unknown tensor")
        return self

    def input_by_role(self, role: TensorRole) -> TensorSpec:
        """The single input with ``role`` (features/tokens, lengths)."""
        for t in self.inputs:
            if t.role == role:
                return t
        raise KeyError(role)

    @property
    def data_input(self) -> TensorSpec:
        """The input carrying the chunk: features (audio) or token ids (text)."""
        role = TensorRole.FEATURES if self.task == "audio" else TensorRole.TOKENS
        return self.input_by_role(role)

    @property
    def logits_output(self) -> TensorSpec:
        """The per-step logits output."""
        return next(t for t in self.outputs if t.role == TensorRole.LOGITS)

    @property
    def feature_width(self) -> int | None:
        """Frame width (mel bins) for audio models, ``None`` for text."""
        return self.features.n_mels if self.features is not None else None
