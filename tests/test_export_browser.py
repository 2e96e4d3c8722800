"""The exported web page in a real headless Chromium, served by a plain static file server
(Python's http.server): it loads only its own files, samples characters of the vocabulary, and
with a seed writes the text `charwise sample` writes (GRU, LSTM and RNN). Skips only where
Chromium (or Playwright) is missing, and fails there too in CI (test_browser's rule)."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
import torch

from charwise.cli import main
from charwise.export import ExportOptions, export_run, ortweb
from charwise.runs.load import load
from charwise.use.sampling import SampleOptions, generate
from conftest import tiny_config

# name -> (model, data) settings: the three cells, and the vocabularies the page decodes on
# its own paths (raw bytes through a streaming UTF-8 decoder; <unk> for dropped characters).
VARIANTS = {
    "gru": ({"kind": "gru"}, {}),
    "lstm": ({"kind": "lstm"}, {}),
    "rnn": ({"kind": "rnn"}, {}),
    "bytes": ({"kind": "gru"}, {"bytes_mode": True}),
    "unk": ({"kind": "lstm"}, {"max_vocab": 12}),
}
TEXT = "".join(f"{i % 10}: the cat's [{i % 7}] (hat) \u00e9t\u00e9 \u2014 ok\n" for i in range(150))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(root folder, {variant: run folder}): each variant's run exported to root/<variant>/."""
    from charwise.training.lifecycle import train

    try:
        ortweb.find()
    except Exception as e:  # not a skip: the web export is a deliverable, `make ort-web` gets it
        pytest.fail(f"onnxruntime-web is not vendored ({e}); run `make ort-web`")
    torch.set_num_threads(1)  # module fixtures run before conftest's per-test setting
    base = tmp_path_factory.mktemp("export-web")
    src = base / "text.txt"
    src.write_text(TEXT, encoding="utf-8")
    runs = {}
    for name, (model, data) in VARIANTS.items():
        cfg = tiny_config([src], model=model, data={"split": (0.8, 0.2, 0.0), **data})
        train(cfg, base / "runs" / name, cache_dir=base / "cache")
        runs[name] = base / "runs" / name
        export_run(runs[name], ExportOptions(to=str(base / "site" / name), format="web"))
    return base / "site", runs


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_args) -> None:
        pass


@pytest.fixture(scope="module")
def server(site):
    root, _ = site
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def page(browser, server):
    pg = browser.new_page()
    pg.errors, pg.requests = [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("request", lambda r: pg.requests.append(r.url))
    yield pg
    pg.close()


def _sample(pg, url, prime="", length=200, temperature="0.9", top_k="", seed="5") -> str:
    pg.goto(url)
    pg.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
    pg.fill("[data-testid=prime]", prime)
    pg.fill("[data-testid=length]", str(length))
    pg.fill("[data-testid=temperature]", temperature)
    pg.fill("[data-testid=top-k]", top_k)
    pg.fill("[data-testid=seed]", seed)
    pg.click("[data-testid=sample-btn]")
    pg.wait_for_function("document.getElementById('out').dataset.done === 'true'", timeout=60_000)
    return pg.inner_text("#out-gen")


@pytest.mark.parametrize("name", VARIANTS)
def test_page_samples_the_runs_text_from_local_files_only(page, server, site, name):
    _, runs = site
    prime = "3: the été"  # in the <unk> vocabulary, "é" is <unk>
    text = _sample(page, f"{server}/{name}/", prime=prime, top_k="5", seed="11")
    run = load(runs[name])
    opts = SampleOptions(length=200, prime=prime, temperature=0.9, top_k=5, seed=11)
    assert text == generate(run.model, run.vocab, opts)[0]  # the same seed, the same text
    if not run.vocab.bytes_mode:  # 200 characters, each one the vocabulary has
        assert len(text) == 200
        assert set(text) <= {run.vocab.token(i) for i in range(run.vocab.size)}
    kind = VARIANTS[name][0]["kind"]
    assert kind.upper() in page.inner_text("[data-testid=model-info]")
    assert float(page.get_attribute("#out", "data-chars-per-s")) > 0
    assert page.inner_text("[data-testid=speed]").endswith("chars/s")
    assert page.requests and all(u.startswith(f"{server}/{name}/") for u in page.requests)
    assert page.errors == []


def test_page_writes_what_charwise_sample_writes(page, server, site, capsys):
    _, runs = site
    text = _sample(page, f"{server}/lstm/", length=300, temperature="0.8", seed="2026")
    assert main(["sample", str(runs["lstm"]), "-n", "300", "-t", "0.8", "--seed", "2026"]) == 0
    assert capsys.readouterr().out == text + "\n"  # no prime: both start from a newline
    assert page.errors == []


def test_page_reports_a_prime_outside_the_vocabulary(page, server):
    _sample(page, f"{server}/gru/", prime="Zebra")
    status = page.locator("[data-testid=status]")
    assert "not in the model's vocabulary: Z" in status.inner_text()
    assert "error" in status.get_attribute("class")
    assert page.inner_text("#out-gen") == ""


def test_stop_ends_a_long_sample(page, server):
    page.goto(f"{server}/rnn/")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
    page.fill("[data-testid=length]", "1000000")
    page.click("[data-testid=sample-btn]")
    page.wait_for_function("document.getElementById('out-gen').textContent.length > 20")
    page.click("[data-testid=stop-btn]")
    page.wait_for_function("document.getElementById('out').dataset.done === 'true'")
    assert 20 < int(page.get_attribute("#out", "data-chars")) < 1_000_000
    assert page.errors == []
