"""Make docs/images/report.png and docs/images/serve.png with the tooling the browser tests use
(Debian's chromium driven by Playwright's Python API).

    charwise train --corpus python --out runs/py --hidden 128 --batch-size 32 --seq-len 100 \\
        --max-time 300 --threads 1
    python docs/make_screenshots.py runs/py

The report shows the run's validation split; the page samples from the same run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from charwise.config import RunConfig
from charwise.data.corpus import load_corpus, split_ids
from charwise.inspect.report import ReportOptions, build_report
from charwise.runs.load import load
from charwise.web import create_app
from charwise.web.server import BackgroundServer

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def _val_ids(run, offset: int, chars: int) -> np.ndarray:
    data = RunConfig.from_dict(run.config).data
    val = split_ids(load_corpus(data, vocab=run.vocab).ids, data.split).val
    ids = np.asarray(val[offset : offset + chars + 400], dtype=np.int64)
    newline = int(run.vocab.encode("\n")[0])
    start = int(np.argmax(ids == newline)) + 1  # begin at the start of a line
    return ids[start : start + chars]


def _report_html(run_dir: Path, chars: int, offset: int):
    run = load(run_dir)
    ids = _val_ids(run, offset, chars)
    page, _, interp = build_report(
        run,
        ids,
        "the val split",
        ReportOptions(temperatures=(0.3, 0.7, 1.0, 1.4), sample_length=160, prime="    def "),
    )
    # Show the bracket cell when there is a good one (the post's favourite kind), else the
    # best interpretable cell, which is where the report opens anyway.
    parens = next(p for p in interp.properties if p.name == "in_parens")
    best = parens.best[0] if parens.best[0].score >= 0.9 else None
    return page, best


def report_png(browser, run_dir: Path, out: Path, chars: int, offset: int) -> None:
    page_html, best = _report_html(run_dir, chars, offset)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        path.write_text(page_html, encoding="utf-8")
        pg = browser.new_page(viewport={"width": 1150, "height": 900}, device_scale_factor=1)
        pg.goto(path.as_uri())
        pg.wait_for_selector("#viewer .cw-c")
        if best is not None:
            pg.evaluate(f"window.charwiseViewer.setCell({best.layer}, {best.cell})")
        pg.hover("#viewer .cw-c >> nth=140")
        pg.screenshot(path=str(out))
        pg.close()


def serve_png(browser, run_dir: Path, out: Path, offset: int) -> None:
    run = load(run_dir)
    text = run.vocab.decode(_val_ids(run, offset, 700))
    with BackgroundServer(create_app([run_dir])) as srv:
        pg = browser.new_page(viewport={"width": 1150, "height": 1120}, device_scale_factor=1)
        pg.goto(srv.url)
        pg.fill("#prime", "    def ")
        pg.fill("#length", "300")
        pg.fill("#temperature", "0.8")
        pg.fill("#seed", "3")
        pg.click("#sample-btn")
        pg.wait_for_function("document.getElementById('sample-out').dataset.done === 'true'")
        pg.uncheck("#live")
        pg.fill("#text", text)
        pg.click("#analyze-btn")
        pg.wait_for_function(
            "document.getElementById('analyze-status').textContent.includes('bits/char')"
        )
        pg.select_option("[data-testid=cw-ranked]", index=1)  # the best interpretable cell
        pg.evaluate("window.scrollTo(0, 0)")
        pg.hover("#viewer .cw-c >> nth=36")
        pg.screenshot(path=str(out))
        pg.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "images")
    ap.add_argument("--chars", type=int, default=2500)
    ap.add_argument("--offset", type=int, default=0, help="where in the val split to start")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        report_png(browser, args.run_dir, args.out_dir / "report.png", args.chars, args.offset)
        serve_png(browser, args.run_dir, args.out_dir / "serve.png", args.offset + 3000)
        browser.close()
    print(f"wrote {args.out_dir / 'report.png'} and {args.out_dir / 'serve.png'}")


if __name__ == "__main__":
    main()
