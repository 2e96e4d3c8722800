"""The web page and the HTML report in a real headless Chromium (Debian's `chromium`, driven by
Playwright's Python API). Locally these skip when no browser is installed (`make browser`
installs it); in CI (CI=true) a missing browser or Playwright is a failure."""

from __future__ import annotations

import pytest

from charwise.inspect.report import ReportOptions, build_report
from charwise.runs.load import load
from charwise.training.lifecycle import train
from charwise.use.sampling import SampleOptions, generate
from charwise.web import create_app
from charwise.web.server import BackgroundServer
from conftest import tiny_config, train_tiny_run

TEXT = "".join(
    f'{"  " * (i % 2)}x{i % 10} = f("a{i % 7}", [b, c])  # n{i % 3}\n' for i in range(300)
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("browser"), TEXT)


@pytest.fixture(scope="module")
def server(run_dir):
    with BackgroundServer(create_app([run_dir])) as srv:
        yield srv


@pytest.fixture
def page(browser):
    pg = browser.new_page(viewport={"width": 1200, "height": 900})
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    yield pg
    pg.close()


def colours(pg, n: int = 300) -> list[str]:
    return pg.eval_on_selector_all(
        ".cw-c", f"els => els.slice(0, {n}).map(e => e.style.backgroundColor)"
    )


def test_sampling_streams_into_the_page(page, server, run_dir):
    page.goto(server.url)
    page.fill("[data-testid=prime]", "x1 = ")
    page.fill("[data-testid=length]", "3000")
    page.fill("#seed", "5")
    page.fill("[data-testid=temperature]", "0.9")
    page.click("[data-testid=sample-btn]")
    page.wait_for_function(
        "document.getElementById('sample-out').dataset.done === 'true'", timeout=60_000
    )
    out = page.locator("[data-testid=sample-out]")
    assert int(out.get_attribute("data-chunks")) > 1  # arrived piece by piece
    run = load(run_dir)
    expected = generate(
        run.model, run.vocab, SampleOptions(length=3000, prime="x1 = ", temperature=0.9, seed=5)
    )[0]
    assert page.inner_text("#sample-out .gen") == expected
    assert page.inner_text("#sample-out .prime") == "x1 = "
    # A beam width switches to beam search: the library's beam text, in one piece, and the
    # sampling controls (which change nothing for it) greyed out; 0 samples again.
    assert page.is_disabled("[data-testid=length-penalty]")
    page.fill("[data-testid=beam]", "3")
    assert page.is_disabled("[data-testid=temperature]")
    page.fill("[data-testid=length-penalty]", "0.5")
    page.fill("[data-testid=length]", "60")
    page.click("[data-testid=sample-btn]")
    page.wait_for_function(
        "document.getElementById('sample-out').dataset.done === 'true'", timeout=60_000
    )
    beam = run.sample(60, prime="x1 = ", beam=3, length_penalty=0.5)
    assert page.inner_text("#sample-out .gen") == beam and len(beam) == 60
    assert out.get_attribute("data-chunks") == "1"
    assert page.inner_text("[data-testid=sample-status]").endswith("of a beam of 3")
    page.fill("[data-testid=beam]", "0")
    assert page.is_enabled("[data-testid=temperature]")
    assert page.is_disabled("[data-testid=length-penalty]")
    assert page.errors == []
    page.fill("[data-testid=beam]", "99")  # over the server's --max-beam: its error, shown
    page.click("[data-testid=sample-btn]")
    page.wait_for_function(
        "document.getElementById('sample-out').dataset.done === 'true'", timeout=60_000
    )
    assert page.inner_text("[data-testid=sample-status]") == "beam must be between 1 and 32"
    assert all("400" in e for e in page.errors)


def test_the_page_sends_a_temperature_schedule_and_a_regex_stop(page, server, run_dir):
    page.goto(server.url)
    page.fill("[data-testid=prime]", "x1 = ")
    page.fill("[data-testid=length]", "400")
    page.fill("#seed", "4")
    page.fill("[data-testid=temperature]", "0.3")
    page.fill("[data-testid=temperature-end]", "1.5")
    page.fill("[data-testid=stop-regex]", r"\]")
    page.click("[data-testid=sample-btn]")
    page.wait_for_function(
        "document.getElementById('sample-out').dataset.done === 'true'", timeout=60_000
    )
    run = load(run_dir)
    opts = SampleOptions(
        length=400, prime="x1 = ", temperature=0.3, temperature_end=1.5, seed=4, stop_regex=r"\]"
    )
    expected = generate(run.model, run.vocab, opts)[0]
    assert page.inner_text("#sample-out .gen") == expected and expected.endswith("]")
    page.fill("[data-testid=stop-regex]", "[a-")
    page.click("[data-testid=sample-btn]")
    page.wait_for_function(
        "document.getElementById('sample-out').dataset.done === 'true'", timeout=60_000
    )
    status = page.inner_text("[data-testid=sample-status]")
    assert status.startswith("stop_regex is not a valid regular expression")
    assert page.errors == [] or all("400" in e for e in page.errors)


def test_activation_view_colours_and_picker_changes_them(page, server):
    page.goto(server.url)
    # Live analysis off: typing would otherwise start a second analysis 400 ms later, whose new
    # viewer could replace this one between picking a cell and reading the colours.
    page.uncheck("#live")
    page.fill("[data-testid=text]", TEXT[:300])
    page.click("[data-testid=analyze-btn]")
    page.wait_for_function("document.querySelectorAll('#viewer .cw-c').length === 300")
    page.wait_for_function(
        "document.getElementById('analyze-status').textContent.includes('bits/char')"
    )
    before = colours(page)
    assert len(set(before)) > 10 and all(c for c in before)  # coloured, and not all alike
    page.fill("[data-testid=cw-cell]", "7")
    page.dispatch_event("[data-testid=cw-cell]", "change")
    after = colours(page)
    assert after != before
    page.select_option("[data-testid=cw-layer]", "0")
    assert colours(page) != after
    assert page.evaluate("[window.charwiseViewer.layer, window.charwiseViewer.cell]") == [0, 7]
    page.select_option("[data-testid=cw-mode]", "surprise")
    assert colours(page) != after
    page.hover("#viewer .cw-c >> nth=10")
    # The tooltip is drawn on the hover event: wait for it rather than race it.
    page.wait_for_function("document.querySelectorAll('.cw-tip .cw-guess').length === 5")
    assert page.errors == []


def test_report_renders_offline_and_its_picker_works(browser, run_dir, tmp_path):
    run = load(run_dir)
    html, rec, interp = build_report(
        run,
        run.vocab.encode(TEXT[:400]),
        "t.txt",
        ReportOptions(temperatures=(0.5, 1.0), sample_length=40),
    )
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    pg = browser.new_page(viewport={"width": 1200, "height": 900})
    errors, requests = [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(path.as_uri())
    pg.wait_for_function("document.querySelectorAll('#viewer .cw-c').length === 400")
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert pg.locator("svg.cw-plot").count() == 2
    assert pg.locator(".cw-temps > div").count() == 2
    first = interp.interpretable[0] if interp.interpretable else None
    if first:  # the viewer opens on the best interpretable cell
        shown = pg.evaluate("[window.charwiseViewer.layer, window.charwiseViewer.cell]")
        assert shown == list(first[:2])
    before = colours(pg, 400)
    assert len(set(before)) > 10
    pg.fill("[data-testid=cw-cell]", "3")
    pg.dispatch_event("[data-testid=cw-cell]", "change")
    assert colours(pg, 400) != before
    button = pg.locator("button.cw-pick").nth(1)
    layer, cell = int(button.get_attribute("data-layer")), int(button.get_attribute("data-cell"))
    button.click()
    assert pg.input_value("[data-testid=cw-cell]") == str(cell)
    assert pg.input_value("[data-testid=cw-layer]") == str(layer)
    # select a span with the mouse's selection API: the select/match panel answers
    pg.evaluate("""() => {
        const s = document.querySelectorAll('#viewer .cw-c'), r = document.createRange();
        r.setStart(s[7].firstChild, 0);
        r.setEnd(s[10].firstChild, 1);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(r);
        document.querySelector('#viewer .cw-text')
            .dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
    }""")
    assert "selected" in pg.inner_text("#selection") and "4 chars" in pg.inner_text("#selection")
    pg.close()


def test_a_transformer_report_shows_where_each_head_looks(browser, tmp_path):
    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    model = {"kind": "transformer", "layers": 2, "hidden": 16, "heads": 2, "block": 16}
    train(tiny_config([tmp_path / "t.txt"], model=model, seq_len=16, max_steps=3), tmp_path / "r")
    run = load(tmp_path / "r")
    html, rec, _ = build_report(
        run,
        run.vocab.encode(TEXT[:200]),
        "t.txt",
        ReportOptions(temperatures=(1.0,), sample_length=10),
    )
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    pg = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.as_uri())
    pg.wait_for_function("document.querySelectorAll('#viewer .cw-c').length === 200")
    assert pg.locator("table.cw-attn-dist tr").count() == 3  # a header and one row per layer
    pg.click("#viewer .cw-c >> nth=40")
    cells = pg.locator("[data-testid=cw-attn] td")
    assert cells.count() == 2 * 2  # layers x heads
    assert cells.nth(0).locator(".cw-att").count() == 5
    # Colour by attention for layer 1, head 1: exactly the recorded top positions are shaded.
    pg.select_option("[data-testid=cw-layer]", "1")
    pg.select_option("[data-testid=cw-head]", "1")
    shaded = [i for i, c in enumerate(colours(pg, 200)) if c]
    assert shaded == sorted(int(p) for p in rec.attn_pos[1, 1, 40] if p >= 0)
    assert all(p <= 40 for p in shaded)
    assert errors == []
    pg.close()
