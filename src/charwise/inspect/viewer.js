// charwise viewer: text coloured by one cell or by surprise, top-k guesses on hover, a cell
// picker with the interpretable cells first, and LSTMVis-style select/match on a text span.
// For a transformer (data.attn) the cells are its MLP units ("unit"), and clicking a character
// shows where each attention head looks from it (a table, and an "attention" colouring).
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
  // Attention weight in [0, 1]: white to green (by its square root, so that a head spreading
  // over many characters still shows where its largest weights go).
  function attnColour(w) {
    const t = Math.sqrt(Math.min(1, Math.max(0, w)));
    return `rgb(${Math.round(255 - 200 * t)}, ${Math.round(255 - 60 * t)}, ${Math.round(255 - 170 * t)})`;
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
      this.unit = data.unit || "cell";
      this.head = 0;
      this.focus = null;  // the character whose attention is shown (a transformer's)
      root.classList.add("cw-viewer");
      root.innerHTML = "";
      this.controls = root.appendChild(el("div", { class: "cw-controls" }));
      this.status = root.appendChild(el("div", { class: "cw-status" }));
      this.textEl = root.appendChild(el("div", { class: "cw-text", "data-testid": "cw-text" }));
      this.tip = root.appendChild(el("div", { class: "cw-tip", role: "tooltip" }));
      if (data.attn) this.attnEl = root.appendChild(el("div", { class: "cw-attn", "data-testid": "cw-attn" },
        "Click a character to see where each attention head looks from it."));
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
      mode.append(el("option", { value: "cell" }, `${this.unit} activation`),
                  el("option", { value: "surprise" }, "surprise (-log2 p)"));
      if (d.attn) mode.append(el("option", { value: "attention" }, "attention (click a character)"));
      mode.onchange = () => { this.mode = mode.value; this.colour(); };
      const qsel = el("select", { "data-testid": "cw-quantity", title: "which activation" });
      for (const q of d.quantities) qsel.append(el("option", { value: q }, q === "c" ? "c (as tanh c)" : q));
      qsel.value = this.quantity;
      qsel.onchange = () => { this.quantity = qsel.value; this.colour(); };
      const lsel = el("select", { "data-testid": "cw-layer", title: "layer" });
      for (let l = 0; l < d.layers; l++) lsel.append(el("option", { value: String(l) }, `layer ${l}`));
      const num = el("input", { type: "number", min: "0", max: String(d.hidden - 1), "data-testid": "cw-cell",
                                title: `${this.unit} number` });
      const range = el("input", { type: "range", min: "0", max: String(d.hidden - 1), "data-testid": "cw-cell-range" });
      const U = this.unit;
      const ranked = el("select", { "data-testid": "cw-ranked", title: `interpretable ${U}s, best first` });
      ranked.append(el("option", { value: "" }, `interpretable ${U}s\u2026`));
      if (d.interp) {
        for (const [l, cell, prop, score] of d.interp.interpretable)
          ranked.append(el("option", { value: `${l}:${cell}` }, `L${l} ${U} ${cell}: ${prop} (${score.toFixed(2)})`));
        for (const p of d.interp.properties) {
          const g = el("optgroup", { label: `best for ${p.name}` + (p.null !== null && p.null !== undefined ? ` (null ${p.null.toFixed(2)})` : "") });
          for (const b of p.best)
            g.append(el("option", { value: `${b.layer}:${b.cell}` },
                        `L${b.layer} ${U} ${b.cell}: ${p.metric} ${b.score.toFixed(2)}${b.sign < 0 ? " (inverted)" : ""}`));
          ranked.append(g);
        }
      }
      ranked.onchange = () => {
        if (!ranked.value) return;
        const [l, cell] = ranked.value.split(":").map(Number);
        this.setCell(l, cell);
      };
      lsel.onchange = () => {
        if (this.mode === "attention") { this.layer = Number(lsel.value); this.colour(); }
        else this.setCell(Number(lsel.value), this.cell);
      };
      num.onchange = () => this.setCell(this.layer, Number(num.value));
      range.oninput = () => this.setCell(this.layer, Number(range.value));
      const hsel = el("select", { "data-testid": "cw-head", title: "attention head (colour by attention)" });
      for (let h = 0; h < (d.attn ? d.attn.heads : 0); h++) hsel.append(el("option", { value: String(h) }, `head ${h}`));
      hsel.onchange = () => { this.head = Number(hsel.value); this.mode = "attention"; mode.value = "attention"; this.colour(); };
      this.inputs = { mode, qsel, lsel, num, range, ranked, hsel };
      const wrap = (t, e) => { const lab = el("label", {}, t + " "); lab.append(e); return lab; };
      c.append(wrap("colour by", mode));
      if (d.quantities.length > 1) c.append(wrap("activation", qsel));
      c.append(wrap("", lsel), wrap(U, num), range, ranked);
      if (d.attn) c.append(hsel);
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
      if (this.data.attn) this.textEl.addEventListener("click", (e) => {
        const sel = window.getSelection();
        const i = e.target.dataset ? e.target.dataset.i : undefined;
        if (i !== undefined && (!sel || sel.isCollapsed)) this.setFocus(Number(i));
      });
    }
    colour() {
      const spans = this.spans;
      if (this.mode === "surprise") {
        for (let i = 0; i < spans.length; i++) spans[i].style.backgroundColor = surpriseColour(this.surprise(i));
        this.status.textContent = `surprise: -log2 p(character | text before it); ` +
          (this.data.bpc !== null ? `mean ${this.data.bpc.toFixed(3)} bits/char` : "");
      } else if (this.mode === "attention") {
        for (const s of spans) s.style.backgroundColor = "";
        const a = this.data.attn, l = this.layer, h = this.head;
        if (this.focus !== null) {
          for (const [p, w] of this.attended(l, h, this.focus)) spans[p].style.backgroundColor = attnColour(w);
        }
        this.status.textContent = `layer ${l}, head ${h}: looks back ${a.dist[l][h].toFixed(1)} characters on average; ` +
          (this.focus === null ? "click a character" : `shading its top ${a.k} attended characters from position ${this.focus}`);
      } else {
        for (let i = 0; i < spans.length; i++) spans[i].style.backgroundColor = cellColour(this.value(i));
        this.status.textContent = `layer ${this.layer}, ${this.unit} ${this.cell} (${this.quantity}): ` +
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
      if (this.mode === "cell") tip.append(el("div", { class: "cw-tip-foot" }, `${this.unit} value ${this.value(i).toFixed(3)}`));
      const r = span.getBoundingClientRect();
      tip.style.display = "block";
      tip.style.left = `${Math.min(window.innerWidth - 170, r.left)}px`;
      tip.style.top = `${r.bottom + 4}px`;
    }

    // -- a transformer's attention ------------------------------------------------------
    // [[position, weight], ...] that head h of layer l attends to most from character t.
    attended(l, h, t) {
      const a = this.data.attn, k = a.k, base = ((l * a.heads + h) * this.data.n + t) * k, out = [];
      for (let j = 0; j < k; j++) if (a.pos[base + j] >= 0) out.push([a.pos[base + j], a.w[base + j]]);
      return out;
    }
    setFocus(t) {
      const a = this.data.attn, d = this.data;
      this.focus = t;
      for (const s of this.spans) s.classList.remove("cw-focus");
      this.spans[t].classList.add("cw-focus");
      const panel = this.attnEl;
      panel.innerHTML = "";
      panel.append(el("div", { class: "cw-sel-head" },
        `attention from \u201c${label(d.chars[t])}\u201d (position ${t}): the characters each head looks at most, with their weights`));
      const table = el("table", { class: "cw-attn-table" });
      const head = el("tr", {}); head.append(el("th", {}, ""));
      for (let h = 0; h < a.heads; h++) head.append(el("th", {}, `head ${h}`));
      table.append(head);
      for (let l = 0; l < a.layers; l++) {
        const row = el("tr", {}); row.append(el("th", {}, `layer ${l}`));
        for (let h = 0; h < a.heads; h++) {
          const cell = el("td", { "data-layer": String(l), "data-head": String(h) });
          for (const [p, w] of this.attended(l, h, t)) {
            const item = el("span", { class: "cw-att", title: `position ${p}, ${t - p} back` },
              `${label(d.chars[p])} ${p === t ? "0" : "\u2212" + (t - p)} ${w.toFixed(2)}`);
            item.style.backgroundColor = attnColour(w);
            cell.append(item);
          }
          cell.onclick = () => {
            this.layer = l; this.head = h; this.mode = "attention";
            this.inputs.mode.value = "attention"; this.inputs.hsel.value = String(h);
            this.syncControls(); this.colour();
          };
          row.append(cell);
        }
        table.append(row);
      }
      panel.append(table);
      if (this.mode === "attention") this.colour();
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
        `selected \u201c${text.slice(0, 60)}\u201d (${end - start} chars): ${cells.length} ${viewer.unit}s on inside, off around it`));
      const list = el("div", { class: "cw-sel-cells" });
      for (const c of cells) {
        const b = el("button", { type: "button" }, `L${c.layer} ${viewer.unit} ${c.cell}${c.sign < 0 ? " (\u2212)" : ""}`);
        b.onclick = () => viewer.setCell(c.layer, c.cell);
        list.append(b);
      }
      panel.append(list);
      if (cells.length) {
        panel.append(el("div", { class: "cw-sel-head" },
          `${matches.length} other places where the top ${Math.min(5, cells.length)} ${viewer.unit}s fire together (outlined)`));
        viewer.setCell(cells[0].layer, cells[0].cell);
        viewer.markSpans(matches);
      }
    };
  }
  return { decode, cellColour, surpriseColour, attnColour, Viewer, attachSelectPanel };
})();
if (typeof window !== "undefined") window.CharwiseViewer = CharwiseViewer;
