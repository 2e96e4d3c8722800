"""The web app in-process (Starlette's TestClient) and over real HTTP (uvicorn in a thread):
streamed samples, live analysis, bounded requests with JSON errors, a server that survives
bad requests and serves requests concurrently."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import threading
import time
import warnings

import httpx
import numpy as np
import pytest

from charwise.config import DataConfig, ModelConfig
from charwise.errors import CharwiseError
from charwise.inspect import record_text
from charwise.inspect.record import recorded_units
from charwise.ngram import NGramConfig, train_ngram
from charwise.runs.load import load
from charwise.use.sampling import SampleOptions, generate
from charwise.web import ServeLimits, create_app
from charwise.web.app import text_limit
from charwise.web.server import BackgroundServer
from conftest import train_tiny_run

with warnings.catch_warnings():  # starlette 1.x suggests httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TEXT = "".join(f'x{i % 10} = f("a{i % 7}", [b, c])  # n{i % 3}\n' for i in range(300))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("web"), TEXT)


@pytest.fixture(scope="module")
def client(run_dir):
    app = create_app([run_dir, run_dir], ServeLimits(max_body=4000, max_text=500, max_length=3000))
    return TestClient(app, raise_server_exceptions=False)


def test_page_assets_and_runs(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="sample-btn"' in page.text
    for url in ("/static/app.js", "/static/style.css", "/viewer/viewer.js", "/viewer/viewer.css"):
        assert client.get(url).status_code == 200, url
    assert client.get("/viewer/report.py").status_code == 404
    runs = client.get("/api/runs").json()["runs"]
    assert [r["name"] for r in runs] == ["run", "run-2"]  # two runs, chosen from a list
    assert runs[0]["kind"] == "lstm" and runs[0]["inspectable"] and runs[0]["last_sample"]
    assert runs[0]["cell"] == "LSTM"
    assert "<svg" in client.get("/api/runs/run/curves").json()["svg"]


def test_sample_streams_the_models_sample(client, run_dir):
    body = {"run": "run-2", "prime": "x1 = ", "length": 2000, "temperature": 0.9, "seed": 3}
    with client.stream("POST", "/api/sample", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        chunks = list(r.iter_text())
    assert len(chunks) > 1  # streamed while generated, not sent at the end
    run = load(run_dir)
    expected = generate(
        run.model, run.vocab, SampleOptions(length=2000, prime="x1 = ", temperature=0.9, seed=3)
    )[0]
    assert "".join(chunks) == expected
    with client.stream("POST", "/api/sample", json={**body, "top_k": 1}) as r:
        greedy = "".join(r.iter_text())
    assert (
        greedy
        == generate(
            run.model, run.vocab, SampleOptions(length=2000, prime="x1 = ", top_k=1, seed=9)
        )[0]
    )


def test_sample_takes_a_temperature_schedule_and_a_regex_stop(client, run_dir):
    # The same fields, checked by SampleOptions, as charwise.sample(...) and the command line.
    body = {"prime": "x1 = ", "length": 400, "temperature": 0.3, "seed": 4}
    extra = {"temperature_end": 1.5, "stop_regex": r"\]"}
    got = client.post("/api/sample", json={**body, **extra}).text
    run = load(run_dir)
    expected = generate(run.model, run.vocab, SampleOptions(**body, **extra))[0]
    assert got == expected and got.endswith("]") and len(got) < 400
    plain = client.post("/api/sample", json={**body, "temperature_end": 1.5}).text
    assert plain != client.post("/api/sample", json=body).text  # the schedule changed the draw
    bad = client.post("/api/sample", json={**body, "stop_regex": "[a-"})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("stop_regex is not a valid regular expression")
    bad = client.post("/api/sample", json={**body, "temperature_end": 0})
    assert (
        bad.status_code == 400 and bad.json()["error"] == "temperature_end must be positive, not 0"
    )


def test_beam_search_returns_the_librarys_beam_text_in_one_piece(client, run_dir, monkeypatch):
    run = load(run_dir)
    body = {"run": "run", "prime": "x1 = ", "length": 80, "beam": 4}
    with client.stream("POST", "/api/sample", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        chunks = list(r.iter_text())
    expected = run.sample(80, prime="x1 = ", beam=4)
    assert chunks == [expected]  # the same stream, in one piece: the best is known at the end
    # It ranks by the model's own probabilities: the sampling fields change nothing (as on the
    # command line, where they are a note, not an error).
    drawn = client.post("/api/sample", json={**body, "temperature": 0.3, "top_k": 2, "seed": 5})
    assert drawn.text == expected
    # A stop rule ends texts and the length penalty ranks them, as in the library. This 30-step
    # model's best texts barely differ in length, so the penalty changes nothing here: what the
    # run was asked is checked too.
    served, asked = client.app.state.runs["run"], []
    original = served.generate

    def spy(opts, on_text=None):
        asked.append(opts)
        return original(opts, on_text)

    monkeypatch.setattr(served, "generate", spy)
    stopped = {**body, "stop_regex": r"\S ", "length_penalty": 1.5}
    got = client.post("/api/sample", json=stopped).text
    assert got == run.sample(80, prime="x1 = ", beam=4, stop_regex=r"\S ", length_penalty=1.5)
    (opts,) = asked
    assert (opts.beam, opts.length_penalty, opts.stop_regex) == (4, 1.5, r"\S ")


def test_analyze_limits_the_text_by_the_runs_units(run_dir):
    """A reply grows with units x characters: a run's text limit is the budget over its units,
    so a wide run gets fewer characters, and the default GRU keeps 3,000."""
    assert text_limit(recorded_units(ModelConfig(vocab_size=65)), ServeLimits()) == 3000
    tf = ModelConfig(vocab_size=65, kind="transformer")  # 4 x 1024 MLP units
    assert text_limit(recorded_units(tf), ServeLimits()) == 750
    # The 2x16 LSTM has 32 units: a budget of 32 x 100 gives it 100 characters.
    c = TestClient(create_app([run_dir], ServeLimits(max_unit_chars=3200)))
    assert c.get("/api/runs").json()["runs"][0]["max_text"] == 100
    r = c.post("/api/analyze", json={"text": TEXT[:101]})
    assert r.status_code == 413 and r.json()["error"] == (
        "the text is over 100 characters, the limit for run 'run' (32 units; a reply carries "
        "at most 3,200 units x characters)"
    )
    r = c.post("/api/analyze", json={"text": TEXT[:100]})
    assert r.status_code == 200 and r.json()["n"] == 100


def test_analyze_returns_the_recording(client, run_dir):
    text = TEXT[:300]
    r = client.post(
        "/api/analyze", json={"run": "run", "text": text + "\u00e9", "features": ["digit=[0-9]"]}
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert "".join(d["chars"]) == text and d["skipped"] == 1 and d["n"] == 300
    rec, _ = record_text(load(run_dir), text)
    np.testing.assert_allclose([p for p in d["p_next"][:-1]], rec.p_next[:-1], atol=1e-4)
    acts = np.frombuffer(base64.b64decode(d["acts"]["c"][0]), np.int8).reshape(300, 16) / 127
    np.testing.assert_allclose(acts, np.tanh(rec.act("c", 0).astype(np.float32)), atol=0.005)
    assert "digit" in {p["name"] for p in d["interp"]["properties"]}


def test_analyze_shows_a_grus_hidden_state(tmp_path):
    """A GRU (the default kind) has no cell state: the page gets h, and samples stream."""
    run = train_tiny_run(tmp_path, TEXT, kind="gru")
    c = TestClient(create_app([run], ServeLimits()), raise_server_exceptions=False)
    d = c.post("/api/analyze", json={"run": "run", "text": TEXT[:50]}).json()
    rec, _ = record_text(load(run), TEXT[:50])
    acts = np.frombuffer(base64.b64decode(d["acts"]["h"][0]), np.int8).reshape(50, 16) / 127
    np.testing.assert_allclose(acts, rec.act("h", 0).astype(np.float32), atol=0.005)
    r = c.post("/api/sample", json={"run": "run", "length": 20, "seed": 1})
    assert r.status_code == 200 and len(r.text) == 20


@pytest.mark.parametrize(
    "method, url, kwargs, status, message",
    [
        ("post", "/api/sample", {"content": b"{not json"}, 400, "not valid JSON"),
        ("post", "/api/sample", {"json": [1, 2]}, 400, "JSON object"),
        ("post", "/api/sample", {"content": b"{" + b" " * 5000 + b"}"}, 413, "over 4000 bytes"),
        ("post", "/api/sample", {"json": {"run": "nope"}}, 404, "no run named"),
        ("post", "/api/sample", {"json": {"length": 3001}}, 400, "length must be between"),
        ("post", "/api/sample", {"json": {"length": "10"}}, 400, "length must be an integer"),
        # null is not "the default" for a field whose default is a value: a 400, not a 500
        ("post", "/api/sample", {"json": {"prime": None}}, 400, "prime must be a string"),
        ("post", "/api/sample", {"json": {"length": None}}, 400, "length must be an integer"),
        ("post", "/api/sample", {"json": {"temperature": None}}, 400, "must be a number"),
        ("post", "/api/sample", {"json": {"run": None}}, 400, "run must be a string"),
        ("post", "/api/sample", {"content": b'{"temperature": NaN}'}, 400, "not nan"),
        ("post", "/api/analyze", {"json": {"text": None}}, 400, "text must be a string"),
        ("post", "/api/sample", {"json": {"temperature": 0}}, 400, "temperature"),
        ("post", "/api/sample", {"json": {"top_k": 0}}, 400, "top_k"),
        ("post", "/api/sample", {"json": {"beam": 0}}, 400, "beam must be at least 1, not 0"),
        ("post", "/api/sample", {"json": {"beam": "4"}}, 400, "beam must be an integer"),
        ("post", "/api/sample", {"json": {"beam": 2.5}}, 400, "beam must be an integer"),
        ("post", "/api/sample", {"json": {"beam": 33}}, 400, "beam must be between 1 and 32"),
        (
            "post",
            "/api/sample",
            {"json": {"beam": 2, "length_penalty": -1}},
            400,
            "length_penalty must not be negative",
        ),
        # The command line refuses --beam with -t 0 too: the temperature is still checked.
        ("post", "/api/sample", {"json": {"beam": 2, "temperature": 0}}, 400, "temperature"),
        (
            "post",
            "/api/sample",
            {"json": {"prime": "\u00e9t\u00e9"}},
            400,
            "not in the model's vocab",
        ),
        (
            "post",
            "/api/analyze",
            {"json": {"text": "x" * 501}},
            413,
            "over 500 characters, the limit for run 'run'",
        ),
        (
            "post",
            "/api/analyze",
            {"json": {"text": "x = 1", "features": ["bad"]}},
            400,
            "NAME=REGEX",
        ),
        ("post", "/api/analyze", {"json": {"text": "x = 1", "features": "a=b"}}, 400, "list"),
        ("post", "/api/analyze", {"json": {"text": "\u00e9"}}, 400, "vocabulary"),
        ("post", "/api/analyze", {"json": {"text": "x\u00e9"}}, 400, "at least 2 characters"),
        ("get", "/api/sample", {}, 405, "Method Not Allowed"),
        ("get", "/api/nothing", {}, 404, "Not Found"),
        ("get", "/api/runs/nope/curves", {}, 404, "no run named"),
    ],
)
def test_bad_requests_get_json_errors(client, method, url, kwargs, status, message):
    r = getattr(client, method)(url, **kwargs)
    assert r.status_code == status
    assert message in r.json()["error"] and "\n" not in r.json()["error"]  # one line
    assert client.get("/api/runs").status_code == 200  # still serving


def test_null_top_k_and_seed_mean_none(client):
    """top_k, seed and beam default to none, so null for them is the same as leaving them out
    (a null beam samples)."""
    body = {"run": "run", "prime": "x1", "length": 20}
    r = client.post("/api/sample", json={**body, "top_k": None, "seed": None, "beam": None})
    assert r.status_code == 200 and len(r.text) == 20


@pytest.fixture(scope="module")
def ngram_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("web-ngram")
    (d / "text.txt").write_text(TEXT, encoding="utf-8")
    data = DataConfig(sources=(str(d / "text.txt"),), split=(0.8, 0.1, 0.1))
    train_ngram(data, NGramConfig(order=5), d / "ng5")
    return d / "ng5"


def test_ngram_run_samples_and_rejects_bad_primes_up_front(ngram_dir):
    """An n-gram run gets the same 400s as an RNN run, not a 200 whose stream ends in an
    error."""
    c = TestClient(create_app([ngram_dir]), raise_server_exceptions=False)
    r = c.post("/api/sample", json={"run": "ng5", "prime": "x1 = ", "length": 30, "seed": 1})
    assert r.status_code == 200 and len(r.text) == 30 and "charwise:" not in r.text
    r = c.post("/api/sample", json={"run": "ng5", "prime": "\u00e9t\u00e9", "length": 10})
    assert r.status_code == 400 and "not in the model's vocab" in r.json()["error"]
    r = c.post("/api/sample", json={"run": "ng5", "prime": None})
    assert r.status_code == 400 and "prime must be a string" in r.json()["error"]


def test_internal_error_is_json_and_the_server_goes_on(client, monkeypatch):
    import charwise.web.app as web_app

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(web_app, "record_text", boom)
    r = client.post("/api/analyze", json={"text": "x = 1"})
    assert r.status_code == 500 and "RuntimeError" in r.json()["error"]
    monkeypatch.undo()
    assert client.post("/api/analyze", json={"text": "x = 1"}).status_code == 200


def test_create_app_rejects_bad_runs(tmp_path):
    with pytest.raises(CharwiseError, match="^no such run directory: .*missing"):
        create_app([tmp_path / "missing"])
    with pytest.raises(CharwiseError, match="^give at least one run directory to serve"):
        create_app([])


def test_real_server_serves_requests_concurrently(run_dir):
    """While one client holds a streaming sample open, its sampler stopped mid-stream (held
    at a gate inside the model's generate), other requests are answered: a server that handled
    one request at a time, or sampled on its event loop, could not answer them until the gate
    opens, and the gate opens only after they were answered. Then the client hangs up while the
    sampler is still mid-stream: the sampler stops at its next character and the server goes
    on."""
    app = create_app([run_dir])
    run = app.state.runs["run"]
    original = run.generate
    gate, done, reached = threading.Event(), threading.Event(), threading.Event()
    produced = []  # characters the sampler handed to the server

    def gated(opts, on_text):
        if opts.length != 5000:  # only the long sample is held
            return original(opts, on_text)

        def held(stream, piece):
            produced.append(piece)
            if len(produced) == 50:  # mid-stream: hold until the other requests were answered
                reached.set()
                gate.wait(40)
            elif len(produced) > 50:
                time.sleep(0.002)  # ~10 s for the rest: time enough to see the hang-up
            on_text(stream, piece)

        try:
            return original(opts, held)
        finally:
            done.set()

    run.generate = gated
    with BackgroundServer(app) as srv:
        with httpx.Client(base_url=srv.url, timeout=20) as c:
            with c.stream("POST", "/api/sample", json={"length": 5000, "seed": 1}) as long:
                # One iterator kept open: a dropped one closes the response when collected.
                pieces = long.iter_text()
                assert 0 < len(next(pieces)) <= 50
                # The other requests start once the sampler is held (on a loaded machine it can
                # take a while to get there), so they are answered while the stream is open.
                assert reached.wait(20)
                results = []

                def ask():
                    results.append(c.post("/api/analyze", json={"text": TEXT[:200]}).status_code)

                threads = [threading.Thread(target=ask) for _ in range(3)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                assert results == [200, 200, 200]
                assert not gate.is_set() and len(produced) == 50  # still held mid-stream
                r = c.post("/api/sample", json={"length": 20, "seed": 2})  # and another sample
                assert r.status_code == 200 and len(r.text) == 20
            # The with-block closed the stream: the client hung up, 50 of 5000 characters in.
            gate.set()
            assert done.wait(15)
            assert len(produced) < 1000  # the sampler noticed and stopped
            r = c.post("/api/sample", json={"length": 20, "seed": 2})
            assert r.status_code == 200 and len(r.text) == 20


def test_serve_port_0_prints_the_port_it_listens_on(run_dir):
    """`charwise serve --port 0` lets the system pick a port and prints that port, not 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "charwise", "serve", str(run_dir), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(60, proc.kill)  # a hung server cannot hang the suite
    killer.start()
    try:
        line = proc.stderr.readline()
        m = re.search(r"on http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        port = int(m.group(1))
        assert port != 0
        r = httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=30)
        assert r.status_code == 200 and r.json()["runs"][0]["name"] == "run"
    finally:
        killer.cancel()
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()
