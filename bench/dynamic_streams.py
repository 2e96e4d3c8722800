"""What sharing one adapted copy costs: dynamic evaluation of a run at 1, 4 and 32 streams over its
whole validation split, with the settings bench/dynamic.py tuned at 16 streams (one JSON line per
stream count; one thread, as bench/dynamic.py ran on the shared machine).

    .venv/bin/python bench/dynamic_streams.py [RUN_DIR]       # default /work/runs/dynamic/ts
"""

from __future__ import annotations

import json
import os
import sys

import torch

from charwise.runs.dynamic import dynamic_evaluate
from charwise.runs.load import load
from charwise.use.dynamic import DynamicConfig


def main() -> None:
    torch.set_num_threads(1)
    run = load(sys.argv[1] if len(sys.argv) > 1 else "/work/runs/dynamic/ts")
    stats = None
    for streams, precision in [(1, "fp32"), (4, "auto"), (32, "auto")]:
        cfg = DynamicConfig(streams=streams, lr=3e-5, decay=3.7e-5, segment=50, precision=precision)
        r = dynamic_evaluate(run, split="val", cfg=cfg, stats=stats)
        stats = r.stats
        rec = {
            "streams": streams,
            "precision": precision,
            "val": r.result.nats_per_char,
            "chars_per_s": r.chars_per_s,
            "load": os.getloadavg()[0],
        }
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
