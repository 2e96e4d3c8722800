// charwise viewer: text coloured by one cell or by surprise, top-k guesses on hover, a cell
// picker with the interpretable cells first, and LSTMVis-style select/match on a text span.
// Shared by the HTML report (inlined) and the web page (/static/viewer.js). No dependencies.
"use strict";
const CharwiseViewer = (() => {
  function decode(b64) {
    const s = atob(b64), a = new Int8Array(s.length);
    for (let i = 0; i < s.length; i++) a[i] = (s.charCodeAt(i) << 24) >> 24;
    return a;
  }
  // Cell value in [-1, 1]: blue (negative) - white - red (positive), as in the post.
  function cellColour(v) {
    const t = Math.min(1, Math.abs(v));
    const [r, g, b] = v >= 0 ? [230, 70, 50] : [50, 110, 230];
    const mix = (c) => Math.round(255 + (c - 255) * t);
    return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
  }
  // Surprise in bits (-log2 p of the character): white at 0, deep orange at 8 bits and above.
  function surpriseColour(bits) {
    if (bits === null) return "rgb(240, 240, 240)";
    const t = Math.min(1, bits / 8);
    return `rgb(255, ${Math.round(255 - 150 * t)}, ${Math.round(255 - 235 * t)})`;
  }
  function show(ch) {
    if (ch === "\n") return "\u21b5\n";
    if (ch === "\t") return "\u2192\t";
    return ch;
  }
  function label(ch) {
    return ch === "\n" ? "\u21b5" : ch === " " ? "\u2423" : ch === "\t" ? "\u2192" : ch;
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  class Viewer {
    // root: an element; the viewer fills it with controls, the text and a tooltip.
    constructor(root, data) {
      this.root = root;
      this.data = data;
      this.acts = {};
      for (const [q, layers] of Object.entries(data.acts)) this.acts[q] = layers.map(decode);
      this.mode = "cell";
      this.quantity = data.default_quantity;
      const first = data.interp && data.interp.interpretable.length ? data.interp.interpretable[0] : null;
      this.layer = first ? first[0] : data.layers - 1;
      this.cell = first ? first[1] : 0;
      this.highlight = [];
      this.onselect = null;
      root.classList.add("cw-viewer");
      root.innerHTML = "";
      this.controls = root.appendChild(el("div", { class: "cw-controls" }));
      this.status = root.appendChild(el("div", { class: "cw-status" }));
      this.textEl = root.appendChild(el("div", { class: "cw-text", "data-testid": "cw-text" }));
      this.tip = root.appendChild(el("div", { class: "cw-tip", role: "tooltip" }));
      this.buildControls();
      this.buildText();
      this.colour();
    }
    value(i) { return this.acts[this.quantity][this.layer][i * this.data.hidden + this.cell] / 127; }
    surprise(i) {  // bits of surprise at character i: -log2 p given characters before it
      const p = i > 0 ? this.data.p_next[i - 1] : null;
      return p === null ? null : -Math.log2(Math.max(p, 1e-12));
    }

    buildControls() {
      const d = this.data, c = this.controls;
      const mode = el("select", { "data-testid": "cw-mode", title: "colour the text by" });
      mode.append(el("option", { value: "cell" }, "cell activation"),
                  el("option", { value: "surprise" }, "surprise (-log2 p)"));
      mode.onchange = () => { this.mode = mode.value; this.colour(); };
      const qsel = el("select", { "data-testid": "cw-quantity", title: "which activation" });
      for (const q of d.quantities) qsel.append(el("option", { value: q }, q === "c" ? "c (as tanh c)" : q));
      qsel.value = this.quantity;
      qsel.onchange = () => { this.quantity = qsel.value; this.colour(); };
      const lsel = el("select", { "data-testid": "cw-layer", title: "layer" });
      for (let l = 0; l < d.layers; l++) lsel.append(el("option", { value: String(l) }, `layer ${l}`));
      const num = el("input", { type: "number", min: "0", max: String(d.hidden - 1), "data-testid": "cw-cell",
                                title: "cell number" });
      const range = el("input", { type: "range", min: "0", max: String(d.hidden - 1), "data-testid": "cw-cell-range" });
      const ranked = el("select", { "data-testid": "cw-ranked", title: "interpretable cells, best first" });
      ranked.append(el("option", { value: "" }, "interpretable cells\u2026"));
      if (d.interp) {
        for (const [l, cell, prop, score] of d.interp.interpretable)
          ranked.append(el("option", { value: `${l}:${cell}` }, `L${l} cell ${cell}: ${prop} (${score.toFixed(2)})`));
        for (const p of d.interp.properties) {
          const g = el("optgroup", { label: `best for ${p.name}` + (p.null !== null && p.null !== undefined ? ` (null ${p.null.toFixed(2)})` : "") });
          for (const b of p.best)
            g.append(el("option", { value: `${b.layer}:${b.cell}` },
                        `L${b.layer} cell ${b.cell}: ${p.metric} ${b.score.toFixed(2)}${b.sign < 0 ? " (inverted)" : ""}`));
          ranked.append(g);
        }
      }
      ranked.onchange = () => {
        if (!ranked.value) return;
        const [l, cell] = ranked.value.split(":").map(Number);
        this.setCell(l, cell);
      };
      lsel.onchange = () => this.setCell(Number(lsel.value), this.cell);
      num.onchange = () => this.setCell(this.layer, Number(num.value));
      range.oninput = () => this.setCell(this.layer, Number(range.value));
      this.inputs = { mode, qsel, lsel, num, range, ranked };
      const wrap = (t, e) => { const lab = el("label", {}, t + " "); lab.append(e); return lab; };
      c.append(wrap("colour by", mode));
      if (d.quantities.length > 1) c.append(wrap("activation", qsel));
      c.append(wrap("", lsel), wrap("cell", num), range, ranked);
      this.syncControls();
    }
    syncControls() {
      const i = this.inputs;
      i.lsel.value = String(this.layer);
      i.num.value = String(this.cell);
      i.range.value = String(this.cell);
    }
    setCell(layer, cell) {
      if (!(layer >= 0 && layer < this.data.layers)) return;
      if (!(cell >= 0 && cell < this.data.hidden)) return;
      this.layer = layer;
      this.cell = cell;
      this.mode = "cell";
      this.inputs.mode.value = "cell";
      this.syncControls();
      this.colour();
    }

    buildText() {
      const frag = document.createDocumentFragment();
      this.spans = this.data.chars.map((ch, i) => {
        const s = el("span", { class: "cw-c", "data-i": String(i) }, show(ch));
        frag.append(s);
        return s;
      });
      this.textEl.append(frag);
      this.textEl.addEventListener("mouseover", (e) => {
        const i = e.target.dataset ? e.target.dataset.i : undefined;
        if (i !== undefined) this.showTip(Number(i), e.target);
      });
      this.textEl.addEventListener("mouseleave", () => { this.tip.style.display = "none"; });
      this.textEl.addEventListener("mouseup", () => this.onMouseUp());
    }
    colour() {
      const spans = this.spans;
      if (this.mode === "surprise") {
        for (let i = 0; i < spans.length; i++) spans[i].style.backgroundColor = surpriseColour(this.surprise(i));
        this.status.textContent = `surprise: -log2 p(character | text before it); ` +
          (this.data.bpc !== null ? `mean ${this.data.bpc.toFixed(3)} bits/char` : "");
      } else {
        for (let i = 0; i < spans.length; i++) spans[i].style.backgroundColor = cellColour(this.value(i));
        this.status.textContent = `layer ${this.layer}, cell ${this.cell} (${this.quantity}): ` +
          "red positive, blue negative" + this.describeCell();
      }
      for (const s of this.highlight) s.classList.remove("cw-match");
      this.highlight = [];
    }
    describeCell() {
      const it = this.data.interp;
      if (!it) return "";
      const hit = it.interpretable.find(([l, c]) => l === this.layer && c === this.cell);
      return hit ? ` \u2014 tracks ${hit[2]} (score ${hit[3].toFixed(2)})` : "";
    }
    showTip(i, span) {
      const d = this.data, k = d.k, tip = this.tip;
      tip.innerHTML = "";
      const next = i + 1 < d.n ? d.chars[i + 1] : null;
      tip.append(el("div", { class: "cw-tip-head" },
        `after \u201c${label(d.chars[i])}\u201d` + (next !== null ? `, next is \u201c${label(next)}\u201d` +
        (d.p_next[i] !== null ? ` (p=${d.p_next[i].toFixed(3)})` : "") : "")));
      for (let j = 0; j < k; j++) {
        const id = d.topk_ids[i * k + j], p = d.topk_p[i * k + j];
        const row = el("div", { class: "cw-guess" + (d.tokens[id] === next ? " cw-true" : "") });
        row.style.background = `rgba(59, 111, 209, ${Math.min(1, p) * 0.85})`;
        row.append(el("span", { class: "cw-g-ch" }, label(d.tokens[id])), el("span", { class: "cw-g-p" }, p.toFixed(3)));
        tip.append(row);
      }
      if (this.mode === "cell") tip.append(el("div", { class: "cw-tip-foot" }, `cell value ${this.value(i).toFixed(3)}`));
      const r = span.getBoundingClientRect();
      tip.style.display = "block";
      tip.style.left = `${Math.min(window.innerWidth - 170, r.left)}px`;
      tip.style.top = `${r.bottom + 4}px`;
    }

    // -- LSTMVis select / match (the same rules as charwise.inspect.select) --------------
    onMouseUp() {
      const sel = window.getSelection();
      if (!sel || sel.isCollapsed || !this.onselect) return;
      const a = this.indexOf(sel.anchorNode), b = this.indexOf(sel.focusNode);
      if (a === null || b === null) return;
      this.onselect(Math.min(a, b), Math.max(a, b) + 1);
    }
    indexOf(node) {
      while (node && !(node.dataset && node.dataset.i !== undefined)) node = node.parentNode;
      return node ? Number(node.dataset.i) : null;
    }
    selectCells(start, end, threshold = 0.3, pad = 1, limit = 20) {
      const d = this.data, H = d.hidden, found = [];
      const outside = [];
      for (let t = Math.max(0, start - pad); t < start; t++) outside.push(t);
      for (let t = end; t < Math.min(d.n, end + pad); t++) outside.push(t);
      for (let l = 0; l < d.layers; l++) {
        const a = this.acts[this.quantity][l];
        for (let c = 0; c < H; c++) for (const sign of [1, -1]) {
          let lo = Infinity, hi = -Infinity;
          for (let t = start; t < end; t++) lo = Math.min(lo, sign * a[t * H + c] / 127);
          for (const t of outside) hi = Math.max(hi, sign * a[t * H + c] / 127);
          if (lo > threshold && hi < threshold)
            found.push({ layer: l, cell: c, sign, margin: lo - (outside.length ? hi : threshold) });
        }
      }
      found.sort((x, y) => y.margin - x.margin);
      return found.slice(0, limit);
    }
    matchSpans(cells, spanLen, threshold = 0.3, minFraction = 1.0, exclude = null, limit = 20) {
      const d = this.data, H = d.hidden, n = d.n;
      if (!cells.length) return [];
      const frac = new Float32Array(n);
      for (const c of cells) {
        const a = this.acts[this.quantity][c.layer];
        for (let t = 0; t < n; t++) if (c.sign * a[t * H + c.cell] / 127 > threshold) frac[t] += 1 / cells.length;
      }
      const out = [];
      let s = -1;
      for (let t = 0; t <= n; t++) {
        const on = t < n && frac[t] >= minFraction - 1e-6;
        if (on && s < 0) s = t;
        if (!on && s >= 0) {
          if (!(exclude && s < exclude[1] && t > exclude[0])) {
            let m = 0;
            for (let u = s; u < t; u++) m += frac[u];
            out.push({ start: s, end: t, score: Math.min(t - s, spanLen) / Math.max(t - s, spanLen) * m / (t - s) });
          }
          s = -1;
        }
      }
      out.sort((x, y) => y.score - x.score || x.start - y.start);
      return out.slice(0, limit);
    }
    markSpans(spans) {
      for (const s of this.highlight) s.classList.remove("cw-match");
      this.highlight = [];
      for (const m of spans) for (let t = m.start; t < m.end; t++) {
        this.spans[t].classList.add("cw-match");
        this.highlight.push(this.spans[t]);
      }
    }
  }
  // A panel that shows the select/match result for a span chosen with the mouse.
  function attachSelectPanel(viewer, panel) {
    viewer.onselect = (start, end) => {
      const cells = viewer.selectCells(start, end);
      const matches = viewer.matchSpans(cells.slice(0, 5), end - start, 0.3, 1.0, [start, end]);
      panel.innerHTML = "";
      const text = viewer.data.chars.slice(start, end).map(label).join("");
      panel.append(el("div", { class: "cw-sel-head" },
        `selected \u201c${text.slice(0, 60)}\u201d (${end - start} chars): ${cells.length} cells on inside, off around it`));
      const list = el("div", { class: "cw-sel-cells" });
      for (const c of cells) {
        const b = el("button", { type: "button" }, `L${c.layer} cell ${c.cell}${c.sign < 0 ? " (\u2212)" : ""}`);
        b.onclick = () => viewer.setCell(c.layer, c.cell);
        list.append(b);
      }
      panel.append(list);
      if (cells.length) {
        panel.append(el("div", { class: "cw-sel-head" },
          `${matches.length} other places where the top ${Math.min(5, cells.length)} cells fire together (outlined)`));
        viewer.setCell(cells[0].layer, cells[0].cell);
        viewer.markSpans(matches);
      }
    };
  }
  return { decode, cellColour, surpriseColour, Viewer, attachSelectPanel };
})();
if (typeof window !== "undefined") window.CharwiseViewer = CharwiseViewer;
