"""The paper's four analyses (Karpathy, Johnson & Fei-Fei 2015) end to end on a real text: train
RNNs of a few sizes (keeping checkpoints of the largest), then gate saturation, the loss on `}`
by distance to its `{` against a 20-gram, the error breakdown per size and the training dynamics
against the 1..20-grams, each timed (wall and CPU seconds). Numbers go to OUT/analyses.json,
figures to OUT/*.png. A demonstration of the charwise.analysis entry points, not a reproduction:
the budgets are minutes, the paper's models trained for hours.

    .venv/bin/python bench/paper_analyses.py /work/shared/data/linux_kernel_sample.txt \\
        --chars 1000000 --sizes 1x64,2x256 --time 300 --out /tmp/paper-analyses
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from charwise.analysis import (
    BreakdownOptions,
    CheckpointRecorder,
    error_breakdowns,
    fit_ngrams,
    gate_saturation,
    loss_by_distance,
    losses,
    ngram_char_probs,
    record_gates,
    rnn_char_probs,
    training_dynamics,
)
from charwise.analysis.figures import (
    breakdown_figure,
    dynamics_figure,
    long_range_figure,
    saturation_figure,
)
from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from charwise.data.corpus import load_corpus, split_ids
from charwise.runs.load import load
from charwise.training.lifecycle import train


class Timer:
    def __init__(self):
        self.times: dict[str, dict[str, float]] = {}

    def __call__(self, name: str):
        timer = self

        class _Span:
            def __enter__(self):
                self.w, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                wall, cpu = time.perf_counter() - self.w, time.process_time() - self.c
                timer.times[name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
                print(f"  {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)

        return _Span()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("text")
    ap.add_argument("--out", required=True)
    ap.add_argument("--chars", type=int, default=1_000_000, help="first N characters of the text")
    ap.add_argument("--sizes", default="1x64,2x256", help="LAYERSxHIDDEN,... smallest first")
    ap.add_argument("--kind", default="lstm")
    ap.add_argument("--time", type=float, default=300.0, help="training seconds per size")
    ap.add_argument("--save-every", type=int, default=100, help="checkpoint spacing (steps)")
    ap.add_argument("--eval-chars", type=int, default=100_000, help="validation chars analysed")
    ap.add_argument("--gate-chars", type=int, default=20_000, help="chars for gate saturation")
    ap.add_argument("--checkpoints", type=int, default=6, help="checkpoints in the dynamics")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    text_file = out / "text.txt"
    with open(a.text, encoding="utf-8") as f:
        text_file.write_text(f.read(a.chars), encoding="utf-8")
    data = DataConfig(sources=(str(text_file),), split=(0.9, 0.1, 0.0))
    t = Timer()
    sizes = [tuple(int(x) for x in s.split("x")) for s in a.sizes.split(",")]
    recorder = None
    for layers, hidden in sizes:
        name = f"{layers}x{hidden}"
        cfg = RunConfig(
            ModelConfig(vocab_size=1, kind=a.kind, layers=layers, hidden=hidden, dropout=0.0),
            data,
            TrainConfig(
                optimizer="adamw",  # the recorded analyses' (RESULTS), from before Muon
                max_time=a.time,
                eval_every=a.save_every,
                save_every=a.save_every,
                sample_every=10**9,
                log_every=10,
            ),
        )
        recorder = CheckpointRecorder(out / name)
        with t(f"train {name}"):
            res = train(cfg, out / name, callbacks=recorder)
        print(f"  {name}: {res.steps} steps, best val {res.best_val_loss:.4f} nats", flush=True)
    runs = {f"{la}x{h}": load(out / f"{la}x{h}") for la, h in sizes}
    largest = runs[f"{sizes[-1][0]}x{sizes[-1][1]}"]
    vocab = largest.vocab
    splits = split_ids(np.asarray(load_corpus(data, vocab=vocab).ids), data.split)
    train_ids, ids = np.asarray(splits.train), np.asarray(splits.val[: a.eval_chars])
    text, train_text = vocab.decode(ids), vocab.decode(train_ids)
    assert len(text) == len(ids)
    result: dict = {"machine": platform.processor() or platform.machine(), "args": vars(a)}

    with t("gate saturation"):
        sat = gate_saturation(record_gates(largest.model, ids[: a.gate_chars], str(out / "acts")))
    result["saturation"] = sat.summary()
    saturation_figure(sat, out / "saturation.png")

    with t("n-grams 1..20 counted"):
        ngrams = fit_ngrams(train_ids, vocab.size)

    with t("per-character probabilities (RNNs, 1..9- and 20-gram)"):
        p_rnn = {name: rnn_char_probs(run.model, ids) for name, run in runs.items()}
        p_ng = {n: ngram_char_probs(ngrams[n], ids) for n in (*range(1, 10), 20)}
    for name, p in p_rnn.items():
        print(f"  {name}: {losses(p)[1:].mean():.4f} nats/char on the analysed text")
    print(f"  20-gram: {losses(p_ng[20])[1:].mean():.4f} nats/char", flush=True)

    with t("long range"):
        lr = loss_by_distance(
            text, {largest.path.name: losses(p_rnn[largest.path.name]), "20-gram": losses(p_ng[20])}
        )
    result["long_range"] = lr.to_dict()
    long_range_figure(lr, out / "long_range.png")

    with t("error breakdown"):
        bd = error_breakdowns(p_rnn, text, train_text, BreakdownOptions(), ngram_probs=p_ng)
    result["breakdown"] = {name: b.to_dict() for name, b in bd.items()}
    breakdown_figure(bd, out / "breakdown.png")

    ckpts = recorder.checkpoints
    keep = np.unique(np.geomspace(1, len(ckpts), min(a.checkpoints, len(ckpts))).astype(int) - 1)
    with t(f"training dynamics ({len(keep)} checkpoints x 20 orders)"):
        dyn = training_dynamics([ckpts[i] for i in keep], ids, ngrams)
    result["dynamics"] = dyn.to_dict()
    dynamics_figure(dyn, out / "dynamics.png")

    result["times"] = t.times
    (out / "analyses.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {out / 'analyses.json'} and the figures", flush=True)


if __name__ == "__main__":
    main()
