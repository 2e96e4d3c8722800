"""torchrun / DDP on CPU (gloo, 2 processes on this machine): the 2-process loss curve equals a
1-process run with the same global batch, its checkpoint loads and samples in one process, and a
run resumes with a different world size exactly where it stopped."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import charwise
from charwise.cli import main as cli_main
from charwise.config import RunConfig
from charwise.data.corpus import load_corpus
from charwise.nn.devices import bf16_native
from charwise.runs.format import read_config, read_vocab
from charwise.training.events import Callbacks
from charwise.training.state import STATE_FILE, load_train_state
from charwise.training.trainer import Trainer

# Tiny model, dropout 0, constant LR after a step-based warm-up: the trajectory depends only on
# the step, so a run stopped at step 10 and resumed to 20 must retrace a straight 20-step run.
# fp32 (--no-amp): bf16 autocast on CPUs that have it rounds differently for different batch
# splits, which would blur a 1e-4 comparison; test_bf16_autocast_under_ddp covers it.
ARGS = [
    "--device",
    "cpu",
    "--no-amp",
    "--threads",
    "1",
    "--model",
    "lstm",
    "--layers",
    "2",
    "--hidden",
    "32",
    "--embed",
    "8",
    "--dropout",
    "0",
    "--batch-size",
    "8",
    "--seq-len",
    "32",
    "--lr",
    "0.01",
    "--schedule",
    "constant",  # and no warm-up: a warm-up ends by 10% of the run, so it depends on the limit
    "--warmup",
    "0",
    "--log-every",
    "1",
    "--eval-every",
    "5",
    "--save-every",
    "5",
    "--sample-every",
    "10",
    "--sample-length",
    "20",
    "--quiet",
]
TOL = 1e-4  # observed differences are ~1e-6 (float32 sums in another order)


def _text(path: Path) -> Path:
    rnd = random.Random(0)
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "naïve",
        "café",
        "(x)",
        "[y]",
        "{z}",
        "1234",
        "—",
        "«ok»",
    ]
    lines = [" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 12))) for _ in range(600)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _torchrun(
    args: list[str], cache: Path, nproc: int = 2, launcher: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHARWISE_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        *launcher,
        "-m",
        "charwise",
        *args,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _failure(p: subprocess.CompletedProcess, run: Path) -> str:
    """What a failed torchrun said, and how far it got (did a rank die mid-run or on exit?)."""
    log = run / "log.jsonl"
    last = log.read_text(encoding="utf-8").splitlines()[-1:] if log.exists() else ["no log"]
    return (
        f"exit {p.returncode}; last log record {last}\n{p.stderr[:1500]}\n...\n{p.stderr[-1500:]}"
    )


def _losses(run: Path) -> dict[int, float]:
    recs = [json.loads(ln) for ln in (run / "log.jsonl").read_text(encoding="utf-8").splitlines()]
    train = [r for r in recs if r.get("event") == "train"]
    steps = [r["step"] for r in train]
    assert len(steps) == len(set(steps)), f"duplicate records (two ranks logging?): {steps}"
    return {r["step"]: r["loss"] for r in train}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """ref: 1 process, 20 steps. r21: 2 processes to step 10, then 1 process to 20.
    r12: 1 process to step 10, then 2 processes to 20."""
    base = tmp_path_factory.mktemp("ddp")
    cache = base / "cache"
    text = str(_text(base / "text.txt"))
    old = os.environ.get("CHARWISE_CACHE")
    os.environ["CHARWISE_CACHE"] = str(cache)
    try:
        out = {k: base / k for k in ("ref", "r21", "r12")}
        assert cli_main(["train", text, "--out", str(out["ref"]), "--max-steps", "20", *ARGS]) == 0

        p = _torchrun(["train", text, "--out", str(out["r21"]), "--max-steps", "10", *ARGS], cache)
        assert p.returncode == 0, _failure(p, out["r21"])
        out["r21_half"] = base / "r21_half"  # the DDP run as it was at step 10
        shutil.copytree(out["r21"], out["r21_half"])
        assert cli_main(["train", "--resume", str(out["r21"]), "--max-steps", "20", "--quiet"]) == 0

        assert cli_main(["train", text, "--out", str(out["r12"]), "--max-steps", "10", *ARGS]) == 0
        # Not --quiet: the progress report must come from rank 0 alone.
        p = _torchrun(["train", "--resume", str(out["r12"]), "--max-steps", "20"], cache)
        assert p.returncode == 0, _failure(p, out["r12"])
        out["r12_log"] = p.stderr
        yield out
    finally:
        if old is None:
            os.environ.pop("CHARWISE_CACHE", None)
        else:
            os.environ["CHARWISE_CACHE"] = old


def test_two_processes_match_one_process_with_the_same_global_batch(runs):
    ref, ddp = _losses(runs["ref"]), _losses(runs["r21_half"])
    assert sorted(ddp) == list(range(1, 11))
    for step, loss in ddp.items():
        assert loss == pytest.approx(ref[step], abs=TOL), step
    assert ref[20] < ref[1] - 0.3, "the reference run did not learn; the comparison would be empty"


def test_resume_two_processes_to_one(runs):
    ref, got = _losses(runs["ref"]), _losses(runs["r21"])
    # The DDP half, then the resumed half: no gap, no repeat.
    assert sorted(got) == list(range(1, 21))
    for step in range(11, 21):
        assert got[step] == pytest.approx(ref[step], abs=TOL), step
    _, st = load_train_state(runs["r21"])
    assert st["step"] == 20


def test_resume_one_process_to_two(runs):
    ref, got = _losses(runs["ref"]), _losses(runs["r12"])
    assert sorted(got) == list(range(1, 21))
    for step in range(11, 21):
        assert got[step] == pytest.approx(ref[step], abs=TOL), step
    _, st = load_train_state(runs["r12"])
    assert st["step"] == 20


def test_ddp_checkpoint_loads_in_one_process_on_cpu_and_samples(runs):
    for weights in ("best", "last"):
        run = charwise.load(runs["r21_half"], device="cpu", weights=weights)
        assert next(run.model.parameters()).device.type == "cpu"
        text = charwise.sample(run, length=40, seed=1)
        assert len(text) == 40 and set(text) <= set(run.vocab._chars)
    tensors, st = load_train_state(runs["r21_half"])
    assert st["step"] == 10 and st["global_batch"] == 8
    # Saved from the plain module: no DDP `module.` or torch.compile `_orig_mod.` prefixes.
    assert not any(".module." in k or "_orig_mod" in k for k in tensors)
    # The carried state of all 8 global streams was gathered from both ranks.
    assert tensors["hidden.0"].shape == (2, 8, 32)
    # The ranks hold different streams, so the gathered halves differ.
    h = tensors["hidden.0"]
    assert not h[:, :4].allclose(h[:, 4:])


def test_only_rank_zero_writes(runs):
    # Rank 1 writes no temporary or extra files into the run directory.
    names = {p.name for p in runs["r12"].iterdir()}
    assert STATE_FILE in names and "model.safetensors" in names
    assert not [n for n in names if n.endswith(".tmp")]
    # One progress report, from rank 0, not one per rank.
    assert runs["r12_log"].count("charwise: stopped (max_steps) after 20 steps") == 1
    assert runs["r12_log"].count(", 2 processes") == 1


@pytest.mark.skipif(
    not bf16_native(torch.device("cpu")),
    reason="this CPU has no native bf16: --amp is a no-op here, the fp32 tests cover the path",
)
def test_bf16_autocast_under_ddp(runs, tmp_path, monkeypatch):
    """The default --amp (bf16 autocast on a CPU with native bf16) under 2 processes: trains,
    tracks the 1-process curve loosely (not exactly: bf16 rounds), saves fp32 state that
    loads."""
    text = str(runs["ref"].parent / "text.txt")
    cache = runs["ref"].parent / "cache"
    monkeypatch.setenv("CHARWISE_CACHE", str(cache))
    args = [a for a in ARGS if a != "--no-amp"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli_main(["train", text, "--out", str(one), "--max-steps", "10", *args]) == 0
    p = _torchrun(["train", text, "--out", str(two), "--max-steps", "10", *args], cache)
    assert p.returncode == 0, _failure(p, two)
    a, b = _losses(one), _losses(two)
    assert sorted(b) == list(range(1, 11))
    assert max(abs(a[s] - b[s]) for s in a) < 2e-2
    # The autocast really ran: these are not the fp32 reference run's losses.
    ref = _losses(runs["ref"])
    assert max(abs(b[s] - ref[s]) for s in b) > 1e-5
    tensors, _ = load_train_state(two)
    assert tensors["hidden.0"].dtype == torch.float32 and tensors["hidden.0"].shape == (2, 8, 32)
    assert len(charwise.sample(charwise.load(two), length=10, seed=0)) == 10


def test_global_batch_must_divide_over_processes(tmp_path):
    text = _text(tmp_path / "t.txt")
    i = ARGS.index("--batch-size")
    args = ARGS[: i + 1] + ["7"] + ARGS[i + 2 :]  # a global batch of 7 over 2 processes
    # Each rank's output in its own file: torchrun itself prints a traceback (ChildFailedError)
    # when a rank exits non-zero; what the ranks print must hold none.
    logs = tmp_path / "logs"
    p = _torchrun(
        ["train", str(text), "--out", str(tmp_path / "run"), "--max-steps", "2", *args],
        tmp_path / "cache",
        launcher=("--log-dir", str(logs), "--redirects", "3"),
    )
    assert p.returncode != 0
    said = [f.read_text(encoding="utf-8") for f in sorted(logs.rglob("stderr.log"))]
    assert len(said) == 2, said  # one file per rank
    errors = [s for s in said if s]
    assert errors and all("Traceback" not in s for s in said)
    for s in errors:  # a rank that got to say something said one line
        assert s.startswith("charwise: error: --batch-size 7 (the global batch) must be divisible")
        assert s.count("\n") == 1


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="torch.compile's CPU backend needs a C compiler",
)
def test_compile_trains_the_same_and_saves_plain_weights(runs, tmp_path, monkeypatch):
    """--compile: the same losses as the eager reference run, and weights saved from the plain
    module (no torch.compile `_orig_mod.` prefix), loadable without compiling."""
    text = str(runs["ref"].parent / "text.txt")
    out = tmp_path / "compiled"
    monkeypatch.setenv("CHARWISE_CACHE", str(runs["ref"].parent / "cache"))
    assert cli_main(["train", text, "--out", str(out), "--max-steps", "4", "--compile", *ARGS]) == 0
    ref, got = _losses(runs["ref"]), _losses(out)
    for step in range(1, 5):
        assert got[step] == pytest.approx(ref[step], abs=1e-3), step
    tensors, _ = load_train_state(out)
    assert not any("_orig_mod" in k for k in tensors)
    run = charwise.load(out)
    assert len(charwise.sample(run, length=10, seed=0)) == 10


def _train_on_cuda(runs, monkeypatch, out: Path, optimizer: str) -> Path:
    """The reference run's settings on the GPU with autocast, 20 steps, into `out`."""
    text = str(runs["ref"].parent / "text.txt")
    monkeypatch.setenv("CHARWISE_CACHE", str(runs["ref"].parent / "cache"))
    args = [a if a != "cpu" else "cuda" for a in ARGS if a != "--no-amp"]
    args += ["--optimizer", optimizer]
    assert cli_main(["train", text, "--out", str(out), "--max-steps", "20", *args]) == 0
    return out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_step_amp_and_checkpoint_on_cpu(runs, tmp_path, monkeypatch):
    """One GPU: autocast + GradScaler + fused AdamW train (the loss falls like the fp32 CPU run),
    the carried state stays fp32, and the checkpoint loads and samples on the CPU. AdamW, whose
    fused step needs no host sync; the RNNs' default Muon is checked below."""
    out = _train_on_cuda(runs, monkeypatch, tmp_path / "gpu", "adamw")
    ref, got = _losses(runs["ref"]), _losses(out)
    assert got[20] < got[1] - 0.3
    # fp16 cuDNN vs fp32 CPU, and the loss scale may skip a first overflowing step: close only.
    assert abs(got[20] - ref[20]) < 0.25
    tensors, st = load_train_state(out)
    assert tensors["hidden.0"].dtype == torch.float32 and st["grad_scale"] > 0
    run = charwise.load(out, device="cpu")
    assert len(charwise.sample(run, length=20, seed=0)) == 20

    # No host sync inside a training step (torch.cuda's sync debug mode reports each one).
    cfg = RunConfig.from_dict(read_config(out))
    corpus = load_corpus(cfg.data, vocab=read_vocab(out))
    trainer = Trainer(cfg, tmp_path / "t", corpus, Callbacks())
    for _ in range(2):  # first calls allocate and pick kernels
        trainer.train_step(1e-3)
        trainer.progress.pos += 1
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                trainer.train_step(1e-3)
                trainer.progress.pos += 1
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message).lower()]
    assert not syncs, syncs[:3]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_muon_trains_under_the_grad_scaler_and_resumes(runs, tmp_path, monkeypatch):
    """The RNNs' default optimizer on a GPU: Muon and AdamW under autocast's GradScaler learn,
    and the run resumes with both optimizers' state."""
    out = _train_on_cuda(runs, monkeypatch, tmp_path / "gpu-muon", "muon")
    got = _losses(out)
    assert got[20] < got[1] - 0.3
    tensors, st = load_train_state(out)
    assert any(k.endswith("momentum_buffer") for k in tensors) and st["grad_scale"] > 0
    assert cli_main(["train", "--resume", str(out), "--max-steps", "25", "--quiet"]) == 0
    assert max(_losses(out)) == 25
