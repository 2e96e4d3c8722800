"""Shared fixtures: tiny texts and configs, a private cache folder, one CPU thread per test
(the suite runs on 2 cores; small models gain nothing from more threads)."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

from charwise.training.events import Callbacks


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CHARWISE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.set_num_threads(1)
    yield


@pytest.fixture
def small_text(tmp_path):
    """A ~6 KB text with quotes, brackets and non-ASCII characters."""
    lines = []
    for i in range(120):
        lines.append(f'Line {i}: "héllo wörld" (n={i % 7}) [ok] — naïve café {i * 3 % 11}')
    p = tmp_path / "small.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


# -- tiny runs shared by the core tests --------------------------------------------------------
OVERFIT_TEXT = "the cat sat; the dog ran far.\n"  # 30 characters, 16 distinct


def tiny_config(sources, model: dict | None = None, data: dict | None = None, **train):
    """A RunConfig for a 2-layer, 32-wide model with batch 4, seq 8 on CPU (overridable)."""
    from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    m = {"vocab_size": 1, "layers": 2, "hidden": 32, "embed": 8, "dropout": 0.0, **(model or {})}
    d = {"sources": tuple(str(s) for s in sources), **(data or {})}
    t = {
        "batch_size": 4,
        "seq_len": 8,
        "max_steps": 6,
        "warmup": 2,
        "eval_every": 1000,
        "sample_every": 1000,
        "save_every": 1000,
        "log_every": 1,
        "sample_length": 20,
        "device": "cpu",
        "seed": 0,
        **train,
    }
    return RunConfig(ModelConfig(**m), DataConfig(**d), TrainConfig(**t))


@pytest.fixture
def make_config():
    """tiny_config as a fixture: make_config([path], model={...}, data={...}, **train)."""
    return tiny_config


@pytest.fixture(scope="session")
def overfit_run(tmp_path_factory):
    """A run that has memorised OVERFIT_TEXT (one stream, one 29-step window: every character
    of the text is a training target).

    Returns (run_dir, text). Trained once per session (~0.5 s) and shared: tests must not write
    into it.
    """
    return train_overfit(tmp_path_factory.mktemp("overfit"))


def train_overfit(base, model: dict | None = None, max_steps: int = 200):
    """Train a model (tiny_config's, with `model` settings) until it has memorised OVERFIT_TEXT,
    in base/run. Returns (run_dir, text)."""
    from charwise.training.lifecycle import train

    torch.set_num_threads(1)
    src = base / "text.txt"
    src.write_text(OVERFIT_TEXT, encoding="utf-8")
    cfg = tiny_config(
        [src],
        model=model,
        data={"split": (1.0, 0.0, 0.0)},
        batch_size=1,
        seq_len=29,
        lr=1e-2,
        warmup=5,
        schedule="constant",
        max_steps=max_steps,
        log_every=10,
    )
    train(cfg, base / "run", cache_dir=base / "cache")
    return base / "run", OVERFIT_TEXT


def check_memorised(run, text: str):
    """A run that memorised `text` (train_overfit) after loading: it scores the text
    near-perfectly, sampling continues it, and inspection records it. Returns the recording."""
    from charwise.inspect.record import RecordOptions, record
    from charwise.use.sampling import SampleOptions

    ids = run.vocab.encode(text)
    total, n = run.loss_over_ids(ids)
    assert total / n < 0.2
    out = run.generate(SampleOptions(length=40, prime="the cat", temperature=0.1, seed=0))[0]
    assert out.startswith(" sat; the dog")
    return record(run.model, ids, list(text), RecordOptions(top_k=1))


def train_tiny_run(d, text: str, kind: str = "lstm"):
    """A 2x16 LSTM (or `kind`) trained for 30 steps on `text` (so with log.jsonl and
    samples.jsonl) in d / "run"; returns that run directory."""
    from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from charwise.training.lifecycle import train

    (d / "t.txt").write_text(text, encoding="utf-8")
    cfg = RunConfig(
        model=ModelConfig(vocab_size=1, kind=kind, layers=2, hidden=16, embed=8),
        data=DataConfig(sources=(str(d / "t.txt"),)),
        train=TrainConfig(
            batch_size=8,
            seq_len=32,
            max_steps=30,
            eval_every=15,
            sample_every=15,
            sample_length=60,
            warmup=5,
            device="cpu",
            threads=1,
        ),
    )
    train(cfg, d / "run")
    return d / "run"


# -- training runs: a short text and readers of a run's records -----------------------------------
# ~260 characters: with batch 4 x seq 8 an epoch is 7 steps, so short runs cross epoch boundaries.
SHORT_TEXT = (
    "It was the best of times, it was the worst of times; it was the age of wisdom, "
    "it was the age of foolishness. Über naïve café — 日本! "
) * 2


@pytest.fixture
def short_text(tmp_path):
    p = tmp_path / "short.txt"
    p.write_text(SHORT_TEXT, encoding="utf-8")
    return p


def read_records(run_dir, event="train"):
    """The records of log.jsonl with this event ("train" or "val")."""
    import json

    lines = (run_dir / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r.get("event") == event]


def read_samples(run_dir):
    import json

    lines = (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(ln) for ln in lines]


def poison_after(monkeypatch, step: int) -> None:
    """From optimizer step `step` + 1 on, the weights are NaN (the loss diverges)."""
    from charwise.training.trainer import Trainer

    original = Trainer.train_step

    def poisoned(self, lr, groups=1):
        loss = original(self, lr, groups)
        if self.progress.step == step:
            with torch.no_grad():
                self.model.head.weight.fill_(float("nan"))
        return loss

    monkeypatch.setattr(Trainer, "train_step", poisoned)


class InterruptAt(Callbacks):
    """Sends this process a real SIGINT (or `sig`) after step `at`: the trainer's handler sets
    its flag and the loop saves and stops at the next step boundary."""

    def __init__(self, at: int, sig: int = signal.SIGINT):
        self.at, self.sig = at, sig

    def on_step(self, rec) -> None:
        if rec["step"] == self.at:
            os.kill(os.getpid(), self.sig)


# Browser tests (test_browser, test_export_browser): Debian's Chromium driven by Playwright.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    for p in (
        os.environ.get("CHARWISE_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ):
        if p and Path(p).exists():
            return p
    return None


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: browser tests must run in CI (`make browser` installs chromium)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    path = chromium_path()
    if path is None:
        _missing("no chromium found")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()
