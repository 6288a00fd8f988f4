"""``python -m tests.chaos [small|long|failover|burst]``: one chaos run, its summary line, exit 1 if the
oracle found a problem. ``make chaos`` runs ``long``."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.plans import PLANS
from tests.chaos.run import run


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "long"
    if name not in PLANS:
        print(f"usage: python -m tests.chaos [{'|'.join(PLANS)}]", file=sys.stderr)
        return 2
    keep = Path("var/chaos") / time.strftime("%Y%m%d-%H%M%S")
    with tempfile.TemporaryDirectory(prefix="rnnstream-chaos-") as tmp:
        started = time.monotonic()

        def log(text: str) -> None:
            print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)

        outcome = run(PLANS[name], Path(tmp), log=log)
        keep.mkdir(parents=True, exist_ok=True)
        for path in outcome.logs:  # the worker logs outlive the run, for post-mortems
            (keep / path.name).write_bytes(path.read_bytes())
    for problem in outcome.verdict.problems:
        print(f"  problem: {problem}")
    print(outcome.failover_line())
    print(outcome.summary)
    print(f"worker logs: {keep}")
    return 0 if outcome.verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
