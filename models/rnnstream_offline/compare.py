"""The cell comparison of ``docs/models.md``: RNN, GRU and LSTM, 1 and 2 layers, on both tasks, same budget.

    python -m rnnstream_offline.compare --data ../shared/data --out runs/compare

Each configuration is trained with the same recipe and epochs (per task), exported and verified like a
published model into ``<out>/repository`` (never into ``models/repository``), then measured through ONNX
Runtime: test accuracy (and spam F1), parameters, time per 10-step chunk at batch 1 and 64 (fastest of 200
calls, one intra-op thread), and state bytes per stream. Writes ``<out>/comparison.json`` and the
Markdown table ``<out>/comparison.md``. Runs can be restricted (``--task``, ``--cells``, ``--layers``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnstream.datasets import FSDD_LABELS, fsdd_split, sms_split
from rnnstream.evaluation import classification_metrics
from rnnstream.runtime.scoring import score_items
from rnnstream.runtime.session import OnnxModel
from rnnstream_offline.augment import AudioAugmentConfig
from rnnstream_offline.pipeline import TrainRequest, export_checkpoint, train_model
from rnnstream_offline.training import TrainConfig

# The recipes of the committed version-2 models, with the cell and depth left open. The audio comparison runs
# 10 epochs (the committed fsdd-digits-lstm/2 had 30) so that all twelve runs fit the time there was.
AUDIO = TrainRequest(
    task="audio",
    data_dir=Path(),
    name="cmp-audio",
    hidden=128,
    dropout=0.2,
    augment=AudioAugmentConfig.preset("v2"),
    train=TrainConfig(epochs=10, lr=3e-3),
)
TEXT = TrainRequest(
    task="text",
    data_dir=Path(),
    name="cmp-text",
    hidden=128,
    dropout=0.2,
    hash_buckets=0,
    train=TrainConfig(epochs=12, lr=3e-3, class_weights=(1.0, 2.5)),
)


def step_time_ms(model: OnnxModel, batch: int, steps: int = 10, repeats: int = 200) -> float:
    """Fastest of ``repeats`` ONNX Runtime calls on ``batch`` rows of ``steps`` steps (random inputs), in ms.

    The minimum, not the median: on a machine shared with other jobs the median measures the other jobs."""
    rng = np.random.default_rng(0)
    m = model.manifest
    if m.task == "audio":
        x: np.ndarray = rng.normal(-8, 3, (batch, steps, m.feature_width or 0)).astype(np.float32)  # type: ignore[type-arg]
    else:
        x = rng.integers(2, 100, (batch, steps)).astype(np.int64)
    lengths = np.full(batch, steps, np.int32)
    state = model.zero_state(batch)
    model.run(x, lengths, state)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.run(x, lengths, state)
        times.append(time.perf_counter() - t0)
    return float(np.min(times) * 1000)


def measure(folder: Path, data: Path, checkpoint: Path) -> dict[str, Any]:
    model = OnnxModel(folder, intra_op_threads=1)
    m = model.manifest
    if m.task == "audio":
        items: list[tuple[object, str]] = [(e.path, e.label) for e in fsdd_split(data, "test")]
    else:
        items = [(e.text, e.label) for e in sms_split(data, "test")]
    truth, predicted, skipped = score_items(model, items)
    metrics = classification_metrics(
        truth, predicted, m.labels if m.task == "text" else FSDD_LABELS, m.positive_label
    )
    ck = torch.load(checkpoint, weights_only=False)
    return {
        "model": f"{m.name}:{m.version}",
        "task": m.task,
        "cell": m.cell,
        "layers": m.layers,
        "hidden": m.hidden_size,
        "accuracy": metrics["accuracy"],
        "f1": metrics.get("f1"),
        "n": metrics["n"],
        "skipped": skipped,
        "parameters": int(
            sum(v.numel() for k, v in ck["state_dict"].items() if not k.startswith("feature_"))
        ),
        "ms_per_10_step_chunk_batch1": step_time_ms(model, 1),
        "ms_per_10_step_chunk_batch64": step_time_ms(model, 64),
        "state_bytes_per_stream": int(sum(s.layers * s.hidden * 4 for s in m.state)),
        "train_duration_s": ck["training"]["duration_s"],
        "epochs": ck["training"]["epochs"],
    }


def _loso(req: TrainRequest, out: Path, data: Path, train: bool) -> dict[str, Any]:
    """Leave-one-speaker-out figures of ``req``'s recipe from ``out/loso.json``, trained first if asked."""
    from rnnstream.cli.models_cmd import loso_report
    from rnnstream_offline.loso import train_loso

    report_path = out / "loso.json"
    if train and not report_path.exists():
        folds = train_loso(req, out, progress=False)
        report_path.write_text(json.dumps(loso_report(folds, data)) + "\n")
    if not report_path.exists():
        return {"loso_mean": None, "loso": None}
    report = json.loads(report_path.read_text())
    per = {f["speaker"]: f["accuracy"] for f in report["folds"]}
    return {"loso_mean": report["mean_accuracy"] if len(per) == 6 else None, "loso": per}


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| task | cell | layers x hidden | test accuracy | spam F1 | LOSO mean | parameters "
        "| ms / 10-step chunk, batch 1 | batch 64 | state bytes / stream | training s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['task']} | {r['cell'].upper()} | {r['layers']}x{r['hidden']} | {r['accuracy']:.4f} | "
        + (f"{r['f1']:.4f}" if r["f1"] is not None else "–")
        + " | "
        + (f"{r['loso_mean']:.3f}" if r.get("loso_mean") is not None else "–")
        + f" | {r['parameters']:,} | {r['ms_per_10_step_chunk_batch1']:.3f} | "
        f"{r['ms_per_10_step_chunk_batch64']:.3f} | {r['state_bytes_per_stream']:,} | {r['train_duration_s']:.0f} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", type=Path, default=Path("../shared/data"), help="folder with fsdd/ and sms_spam_collection/"
    )
    ap.add_argument("--out", type=Path, default=Path("runs/compare"))
    ap.add_argument("--task", choices=["audio", "text", "both"], default="both")
    ap.add_argument("--cells", default="rnn,gru,lstm")
    ap.add_argument("--layers", default="1,2")
    ap.add_argument("--audio-epochs", type=int, default=AUDIO.train.epochs)
    ap.add_argument("--text-epochs", type=int, default=TEXT.train.epochs)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--loso",
        action="store_true",
        help="audio: also train and score the six leave-one-speaker-out folds of each cell (six more trainings "
        "each) into OUT/loso/CELL-LAYERS; folds already scored there are reused",
    )
    ap.add_argument(
        "--remeasure",
        action="store_true",
        help="train nothing: measure the models already in OUT/repository again (e.g. on a quieter machine)",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "comparison.json"
    rows: list[dict[str, Any]] = json.loads(results_path.read_text()) if results_path.exists() else []
    tasks = ["audio", "text"] if args.task == "both" else [args.task]
    for task in tasks:
        base = AUDIO if task == "audio" else TEXT
        data = args.data / ("fsdd" if task == "audio" else "sms_spam_collection")
        epochs = args.audio_epochs if task == "audio" else args.text_epochs
        for cell in args.cells.split(","):
            for layers in (int(n) for n in args.layers.split(",")):
                name = f"cmp-{task}-{cell}-{layers}"
                req = replace(
                    base,
                    data_dir=data,
                    name=name,
                    cell=cell,  # type: ignore[arg-type]
                    layers=layers,
                    threads=args.threads,
                    train=replace(base.train, epochs=epochs),
                )
                ck = args.out / "runs" / name / "checkpoint.pt"
                folder = args.out / "repository" / name / "1"
                if args.remeasure:
                    if not folder.is_dir():
                        continue
                else:
                    print(f"== {name}: {epochs} epochs", flush=True)
                    ck = train_model(req, args.out / "runs" / name, progress=False)
                    folder = export_checkpoint(ck, args.out / "repository", version="1", force=True)
                row = measure(folder, data, ck)
                if task == "audio":
                    row.update(_loso(req, args.out / "loso" / f"{cell}-{layers}", data, args.loso))
                rows = [r for r in rows if r["model"] != row["model"]] + [row]
                results_path.write_text(json.dumps(rows, indent=2) + "\n")
                print(json.dumps(row), flush=True)
    rows.sort(key=lambda r: (r["task"], ["rnn", "gru", "lstm"].index(r["cell"]), r["layers"]))
    (args.out / "comparison.md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
