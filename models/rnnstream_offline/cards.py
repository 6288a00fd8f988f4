"""Model cards: the ``card`` section of a manifest, written on export from the checkpoint's own figures.

Every number in a card comes from a measurement: the test metrics from training's final evaluation, the
leave-one-speaker-out figures from the JSON that ``rnnstream eval FOLDS --loso --json`` printed (passed in
with ``--loso-report``). Nothing is typed in by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

AUDIO_LIMITS = [
    "Ten English digit words (zero to nine), one isolated word per stream; anything else is still given one "
    "of the ten labels.",
    "Trained on six speakers (FSDD v1.0.10), all recorded at 8 kHz; the official test split has "
    "the same six speakers, so its accuracy overstates accuracy on a new voice: see speaker_independent.",
    "Augmentation (noise, gain, equaliser, speed) widens what it tolerates, but it was not tested on real noisy, "
    "far-field, telephone or child speech.",
    "The label is read after the last frame of the word; scores before the word ends are partial.",
]
TEXT_LIMITS = [
    "English SMS from the SMS Spam Collection v.1 (about 2011): spam styles of that time; newer spam (links to "
    "web shops, crypto, parcel scams) was not seen.",
    "Most ham comes from Singaporean students (NUS SMS Corpus) and most spam from a UK forum (Grumbletext), so "
    "part of what separates the classes may be dialect rather than spam.",
    "Reads the `words-v1` tokens (lower case, so shouting in capitals is not seen); a token outside the "
    "vocabulary is known only by its shape class or hash bucket (or as <unk>), so unseen words look alike.",
    "The test split has 169 spam messages: one misclassified spam message moves recall by about 0.6 points.",
    "Not a safety filter: a false positive hides a real message; use the score, not only the label, where "
    "that matters.",
]


def _extra_audio(training: Mapping[str, Any]) -> str:
    """The card's words for extra (synthetic) training recordings, if any."""
    extra = training.get("extra_training_audio")
    if not extra:
        return ""
    made = f" made with {extra['synthesiser']}" if extra.get("synthesiser") else ""
    return (
        f"; plus {extra['recordings']} synthetic recordings of the ten digit words in {extra['voices']} "
        f"synthetic voices{made} (rnnstream_offline.synth), in the training split only"
    )


def load_loso_report(path: Path | None) -> dict[str, Any] | None:
    """The JSON printed by ``rnnstream eval FOLDS --loso --json``."""
    if path is None:
        return None
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8").strip().splitlines()[-1])
    if doc.get("mode") != "leave-one-speaker-out":
        raise ValueError(f"{path} is not a leave-one-speaker-out report")
    return doc


def build_card(
    ck: Mapping[str, Any],
    *,
    loso: Mapping[str, Any] | None = None,
    reproduce: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``card`` section for a checkpoint (see ``rnnstream.repository.manifest.ModelCard``)."""
    training, report = ck["training"], ck["report"]
    net = ck["network"]
    audio = net["task"] == "audio"
    recipe = f"{net['cell'].upper()} {net['layers']}x{net['hidden']}, {training['epochs']} epochs, seed {training['seed']}"
    train = report.get("train", {})
    if train.get("weight_decay", 1e-5) != 1e-5:
        recipe += f", AdamW weight decay {train['weight_decay']:g}"
    if train.get("ema_decay", 0.0) > 0:
        recipe += f", ending with a moving average of the weights (decay {train['ema_decay']:g} per batch)"
    ensemble = report.get("ensemble")
    if ensemble:
        k, h = ensemble["members"], ensemble["member_hidden"]
        recipe = (
            f"ensemble of {k} {net['cell'].upper()} {net['layers']}x{h} (seeds {training['seed']}-"
            f"{training['seed'] + k - 1}, {training['epochs']} epochs each), merged into one "
            f"{net['cell'].upper()} {net['layers']}x{net['hidden']} with block-diagonal weights that averages "
            "their logits"
        )
    if audio:
        norm = net.get("norm", "global")
        recipe += f", input normalisation {norm}"
        if norm == "cepstral":
            recipe += f" (cepstral coefficients 1-{net.get('cepstra', 13)} of each log-mel frame)"
        if net.get("pool", "none") == "mean":
            recipe += ", head on the last output and the running mean of the outputs"
        if net.get("pool", "none") == "gated":
            recipe += ", prediction = the gate-weighted running mean of every frame's logits"
            if net.get("quiet_db", 0.0) > 0:
                recipe += f", frames over {net['quiet_db']:g} dB below the running mean power gated out"
        aug = report.get("augment")
        if aug:
            speeds = aug.get("speeds") or [1.0]
            parts = [f"speed {min(speeds):g}-{max(speeds):g}", f"gain ±{aug.get('gain_db', 6.0):g} dB"]
            if aug.get("tilt_prob", 0.0) > 0 and aug.get("tilt_db", 0.0) > 0:
                parts.append(f"equaliser ±{aug['tilt_db']:g} dB")
            if aug.get("dc_prob", 0.0) > 0 and aug.get("dc_offset", 0.0) > 0:
                parts.append(f"DC offset up to {aug['dc_offset']:g} RMS")
            parts += ["noise at random SNR", "time shift", "SpecAugment masks"]
            recipe += f", augmented ({', '.join(parts)})"
    else:
        buckets = ck.get("hash_buckets")
        recipe += f", embedding {net['embed_dim']}, vocabulary of {net['vocab_size']} ids"
        if net.get("pool", "none") == "mean":
            recipe += ", head on the last output and the running mean of the outputs"
        if net.get("pool", "none") == "gated":
            recipe += ", prediction = the gate-weighted running mean of every token's logits"
        if buckets is not None:
            recipe += " (v2: shape classes" + (
                f" and {buckets} hash buckets)" if buckets else "; other unseen words <unk>)"
            )
    weights = report["train"].get("class_weights")
    card: dict[str, Any] = {
        "summary": (
            "Spoken digit (0-9) classifier on 8 kHz log-mel frames, streaming frame by frame."
            if audio
            else "SMS spam/ham classifier on words-v1 tokens, streaming token by token."
        ),
        "data": f"{training['dataset']}; {training['attribution']}" + _extra_audio(training),
        "license": training["license"],
        "splits": training["split"],
        "tested_on": (
            f"{training['n_test']} recordings by {', '.join(training.get('test_speakers') or [])}"
            if audio
            else f"{training['n_test']} messages of the test split (split_suggested.tsv)"
        ),
        "metrics": {k: float(v) for k, v in training["metrics"].items()},
        "decision_rule": (
            "argmax of the class probabilities after the last frame"
            if audio
            else "argmax of ham/spam probabilities after the last token (threshold 0.5)"
            + (f"; trained with class weights {list(weights)} (ham, spam)" if weights else "")
        ),
        "training_recipe": recipe,
        "limits": AUDIO_LIMITS if audio else TEXT_LIMITS,
        "reproduce": list(reproduce),
    }
    if loso is not None:
        per = {str(f["speaker"]): float(f["accuracy"]) for f in loso["folds"]}
        card["speaker_independent"] = {**per, "mean": float(loso["mean_accuracy"])}
    return card
