// charwise serve: the page's logic. Sampling streams plain text from POST /api/sample (beam
// search comes back the same way, as one piece at the end);
// "look inside" posts the text to /api/analyze and shows it with CharwiseViewer (viewer.js).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let runs = [], limits = {}, sampling = null, analyzeTimer = null, analyzeSeq = 0;

  async function errorText(resp) {
    try { return (await resp.json()).error || resp.statusText; } catch { return resp.statusText; }
  }
  function currentRun() { return runs.find((r) => r.name === $("run").value); }
  // The run's own text limit: a run with many units gets fewer characters (a bounded reply).
  function maxText() { return currentRun().max_text || limits.max_text; }
  // A beam width other than 0 or empty means beam search (the server checks the value).
  function beamWidth() { const b = $("beam").value; return b && Number(b) !== 0 ? Number(b) : null; }
  function beamChanged() {  // beam search draws nothing: the sampling controls change nothing
    const beam = beamWidth() !== null;
    for (const id of ["temperature", "temperature-end", "top-k"]) $(id).disabled = beam;
    $("length-penalty").disabled = !beam;
  }

  async function loadRuns() {
    const resp = await fetch("/api/runs");
    const data = await resp.json();
    runs = data.runs; limits = data.limits;
    for (const r of runs) {
      const o = document.createElement("option");
      o.value = r.name; o.textContent = r.name;
      $("run").append(o);
    }
    $("length").max = String(limits.max_length);
    $("beam").max = String(limits.max_beam);
    $("run").onchange = () => selectRun(true);
    selectRun(false);
  }
  function selectRun(rerun) {
    const r = currentRun();
    const shape = r.kind === "transformer"
      ? `${r.layers}-layer transformer, ${r.hidden} wide (${4 * r.hidden} MLP units per layer)`
      : `${r.layers}-layer ${r.cell || r.kind.toUpperCase()}, ${r.hidden} cells per layer`;
    const bits = [`${shape}, vocabulary ${r.vocab_size}`];
    if (r.val_bpc !== null) bits.push(`validation ${r.val_bpc.toFixed(3)} bits/char at step ${r.step}`);
    $("run-info").textContent = bits.join(" \u00b7 ");
    $("analyze-panel").hidden = !r.inspectable;
    if (!$("text").value || rerun) $("text").value = (r.last_sample || "").slice(0, Math.min(600, maxText()));
    $("curves").innerHTML = "";
    fetch(`/api/runs/${encodeURIComponent(r.name)}/curves`).then((x) => x.json()).then((d) => { $("curves").innerHTML = d.svg; });
    if (r.inspectable && $("text").value) analyze();
  }

  // -- sampling, streamed --------------------------------------------------------------------
  async function sample() {
    if (sampling) sampling.abort();
    const ctrl = new AbortController();
    sampling = ctrl;
    const out = $("sample-out"), gen = out.querySelector(".gen");
    out.querySelector(".prime").textContent = $("prime").value;
    gen.textContent = "";
    out.dataset.chunks = "0";
    out.dataset.done = "false";
    const beam = beamWidth();
    $("sample-status").textContent = beam === null ? "sampling\u2026" : "beam search\u2026";
    $("sample-status").classList.remove("error");
    $("stop-btn").disabled = false;
    const body = { run: $("run").value, prime: $("prime").value, length: Number($("length").value) };
    if (beam !== null) {
      body.beam = beam;
      if ($("length-penalty").value) body.length_penalty = Number($("length-penalty").value);
    } else {
      body.temperature = Number($("temperature").value);
      if ($("temperature-end").value) body.temperature_end = Number($("temperature-end").value);
      if ($("top-k").value) body.top_k = Number($("top-k").value);
    }
    if ($("stop-regex").value) body.stop_regex = $("stop-regex").value;
    if ($("seed").value) body.seed = Number($("seed").value);
    try {
      const resp = await fetch("/api/sample", { method: "POST", body: JSON.stringify(body), signal: ctrl.signal,
                                                headers: { "Content-Type": "application/json" } });
      if (!resp.ok) throw new Error(await errorText(resp));
      const reader = resp.body.getReader(), dec = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        gen.textContent += dec.decode(value, { stream: true });
        out.dataset.chunks = String(Number(out.dataset.chunks) + 1);
        out.scrollTop = out.scrollHeight;
      }
      $("sample-status").textContent = `${gen.textContent.length} characters` +
        (beam === null ? "" : `, the most likely of a beam of ${beam}`);
    } catch (e) {
      if (e.name !== "AbortError") {
        $("sample-status").textContent = e.message;
        $("sample-status").classList.add("error");
      } else $("sample-status").textContent = "stopped";
    } finally {
      out.dataset.done = "true";
      $("stop-btn").disabled = true;
      if (sampling === ctrl) sampling = null;
    }
  }

  // -- look inside -----------------------------------------------------------------------------
  async function analyze() {
    const seq = ++analyzeSeq;
    const text = $("text").value;
    const st = $("analyze-status");
    st.classList.remove("error");
    if (text.length < 2) { st.textContent = "type at least 2 characters"; return; }
    if (text.length > maxText()) { st.textContent = `at most ${maxText()} characters for this run`; st.classList.add("error"); return; }
    st.textContent = "running the model\u2026";
    const features = $("features").value.split(";").map((s) => s.trim()).filter(Boolean);
    const resp = await fetch("/api/analyze", { method: "POST", headers: { "Content-Type": "application/json" },
                                               body: JSON.stringify({ run: $("run").value, text, features }) });
    if (seq !== analyzeSeq) return;  // a newer request is on its way
    if (!resp.ok) { st.textContent = await errorText(resp); st.classList.add("error"); return; }
    const data = await resp.json();
    const old = window.charwiseViewer;
    const viewer = new CharwiseViewer.Viewer($("viewer"), data);
    if (old && old.data.layers === data.layers && old.data.hidden === data.hidden && !old.keepRanked) {
      viewer.setCell(old.layer, old.cell);  // keep the chosen cell while typing
    }
    CharwiseViewer.attachSelectPanel(viewer, $("selection"));
    window.charwiseViewer = viewer;
    const it = data.interp, unit = data.unit || "cell";
    st.textContent = `${data.n} characters, ${data.bpc !== null ? data.bpc.toFixed(3) + " bits/char" : ""}` +
      (data.skipped ? `, ${data.skipped} characters the model does not know left out` : "");
    $("interp").textContent = it ? `${it.interpretable.length} of ${it.total_cells} ${unit}s ` +
      `(${(100 * it.fraction).toFixed(1)}%) track a property of this text (AUC \u2265 ${it.auc_threshold} or |r| \u2265 ${it.r_threshold}` +
      (it.null_shifts ? `, and above what the best ${unit} scores against the property shifted in time` : "") + ")" +
      (it.skipped.length ? `; not scored here: ${it.skipped.join(", ")}` : "") : "";
  }

  $("sample-btn").onclick = sample;
  $("beam").addEventListener("input", beamChanged);
  beamChanged();  // a width the browser kept from before a reload
  $("stop-btn").onclick = () => sampling && sampling.abort();
  $("analyze-btn").onclick = analyze;
  $("analyze-sample").onclick = () => {
    $("text").value = ($("prime").value + $("sample-out").querySelector(".gen").textContent).slice(0, maxText());
    analyze();
    $("analyze-panel").scrollIntoView({ behavior: "smooth" });
  };
  $("text").addEventListener("input", () => {
    if (!$("live").checked) return;
    clearTimeout(analyzeTimer);
    analyzeTimer = setTimeout(analyze, 400);
  });
  loadRuns();
})();
