"""Sampling speed in the browser (the exported web page: onnxruntime-web, WebAssembly, one
thread, in headless Chromium) beside the CLI's sampler on the same machine and the same model,
alternated round by round in one run (this VM's speed drifts between runs).

    /work/tools/measure .venv/bin/python bench/web_speed.py            # 2x512 GRU and LSTM
    .venv/bin/python bench/web_speed.py --kinds gru --hidden 128 --chars 3000

The model is the default architecture with random weights over tinyshakespeare's 65 characters
(the cost per character does not depend on the weights), saved as a run and exported with
`charwise export --format web`. Per model and round:
  - page:      the page's own chars/s readout (generation only, after the model has loaded)
  - generate:  charwise's sampler in this process (what `charwise sample` runs), timed around
               `generate`, at 1 thread (the page's) and at torch's default (all cores)
  - command:   `charwise sample RUN --length N` as a process, wall clock (start-up included)
Same seed, temperature 1, no prime everywhere; whether the page's text equals the CLI's is
printed too. Figures are medians over --rounds.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from charwise.data.vocab import Vocab
from charwise.export import ExportOptions, export_run, ortweb
from charwise.nn.model import CharRNN
from charwise.runs.format import load, save_config, save_model
from charwise.use.sampling import SampleOptions, generate

TEXT = Path("/work/shared/data/tinyshakespeare.txt")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # A page driven by Playwright counts as backgrounded: without these its timers and tasks
    # are throttled, which would measure Chromium's power saving, not the sampler.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]


def make_run(folder: Path, kind: str, layers: int, hidden: int, text: Path) -> Path:
    vocab = Vocab.from_text(text.read_text(encoding="utf-8"))
    cfg = RunConfig(
        ModelConfig(vocab_size=vocab.size, kind=kind, layers=layers, hidden=hidden),
        DataConfig(sources=(str(text),)),
        TrainConfig(),
    )
    torch.manual_seed(0)
    save_config(folder, cfg, vocab)
    save_model(folder / "model.safetensors", CharRNN(cfg.model), {"step": 0})
    return folder


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_args) -> None:
        pass


def page_sample(browser, url: str, chars: int, seed: int) -> tuple[float, str]:
    pg = browser.new_page()
    try:
        pg.goto(url)
        pg.wait_for_function("document.body.dataset.ready === 'true'", timeout=120_000)
        pg.fill("#length", str(chars))
        pg.fill("#seed", str(seed))
        pg.fill("#temperature", "1")
        pg.click("#sample-btn")
        pg.wait_for_function(
            "document.getElementById('out').dataset.done === 'true'", timeout=600_000
        )
        return float(pg.get_attribute("#out", "data-chars-per-s")), pg.inner_text("#out-gen")
    finally:
        pg.close()


def cli_generate(run, chars: int, seed: int, threads: int) -> tuple[float, str]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        opts = SampleOptions(length=chars, seed=seed, temperature=1.0)
        t = time.perf_counter()
        text = generate(run.model, run.vocab, opts)[0]
        return chars / (time.perf_counter() - t), text
    finally:
        torch.set_num_threads(before)


def cli_command(run_dir: Path, chars: int, seed: int) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "charwise", "sample", str(run_dir), "-n", str(chars)]
        + ["--seed", str(seed)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return chars / (time.perf_counter() - t)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{cpu}, {torch.get_num_threads()} threads; torch {torch.__version__}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="gru,lstm")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--chars", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--text", type=Path, default=TEXT)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    ortweb.find()  # fail early, with the how-to, where onnxruntime-web is not vendored
    work = Path(tempfile.mkdtemp(prefix="web-speed-"))
    sites = {}
    for kind in args.kinds.split(","):
        run_dir = make_run(work / "runs" / kind, kind, args.layers, args.hidden, args.text)
        export_run(run_dir, ExportOptions(to=str(work / "site" / kind), format="web"))
        sites[kind] = run_dir
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(work / "site"))
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    print(f"machine: {machine()}; onnxruntime-web {ortweb.VERSION}")
    print(f"{args.chars} characters per sample, median of {args.rounds} alternated rounds\n")
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        print(f"chromium {browser.version}\n")
        for kind, run_dir in sites.items():
            run = load(run_dir)
            cols: dict[str, list[float]] = {"page": [], "gen1": [], "genN": [], "cmd": []}
            same = []
            for r in range(args.rounds):
                seed = 1000 + r
                rate, page_text = page_sample(browser, f"{base}/{kind}/", args.chars, seed)
                cols["page"].append(rate)
                rate, cli_text = cli_generate(run, args.chars, seed, 1)
                cols["gen1"].append(rate)
                cols["genN"].append(cli_generate(run, args.chars, seed, torch.get_num_threads())[0])
                cols["cmd"].append(cli_command(run_dir, args.chars, seed))
                same.append(page_text == cli_text)
            med = {k: statistics.median(v) for k, v in cols.items()}
            rows.append((kind, med, sum(same), len(same)))
            print(f"{kind}: " + ", ".join(f"{k} {[round(x) for x in v]}" for k, v in cols.items()))
        browser.close()
    srv.shutdown()
    name = f"{args.layers}x{args.hidden}"
    print(
        "\n| model | page (1 thread) | generate, 1 thread | generate, "
        f"{torch.get_num_threads()} threads | `charwise sample` (wall) | page / generate 1t "
        "| same text |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, m, n_same, n in rows:
        print(
            f"| {kind.upper()} {name} | {m['page']:,.0f} | {m['gen1']:,.0f} | {m['genN']:,.0f} "
            f"| {m['cmd']:,.0f} | {m['page'] / m['gen1']:.2f} | {n_same}/{n} |"
        )
    print("\n(chars/s)")


if __name__ == "__main__":
    main()
