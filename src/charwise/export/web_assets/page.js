// The exported page: loads the model with onnxruntime-web (vendored in ./ort/, WebAssembly on
// the CPU, one thread: no cross-origin isolation needed) and samples in the browser alone.
import * as ort from "./ort/ort.wasm.bundle.min.js";
import { loadModel, sample } from "./sampler.js";

const $ = (id) => document.getElementById(id);
const SHOW_EVERY_MS = 50; // text reaches the DOM in batches: one append per character is slow

ort.env.wasm.numThreads = 1; // threads need SharedArrayBuffer, which a plain static server denies
ort.env.wasm.proxy = false;

let model = null, running = false, stopRequested = false;

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function describe(meta) {
  const bits = [`${meta.layers} x ${meta.hidden} ${meta.kind.toUpperCase()}`, `vocabulary ${meta.vocab_size}`];
  if (meta.val_loss != null) bits.push(`validation ${(meta.val_loss / Math.LN2).toFixed(3)} bits/char`);
  if (meta.text) bits.push(`trained on ${meta.text}`);
  return bits.join(" \u00b7 ");
}

function readSeed() {
  const raw = $("seed").value.trim();
  if (raw) return BigInt(raw);
  const r = new Uint32Array(2);
  crypto.getRandomValues(r);
  return (BigInt(r[0]) << 32n) | BigInt(r[1]);
}

async function run() {
  if (running) return;
  const out = $("out");
  out.dataset.done = "false";
  let seed;
  try { seed = readSeed(); } catch { status("the seed must be a whole number", true); return; }
  const opts = {
    prime: $("prime").value,
    length: Math.max(1, parseInt($("length").value, 10) || 500),
    temperature: parseFloat($("temperature").value),
    topK: parseInt($("top-k").value, 10) || null,
    seed,
  };
  if (!(opts.temperature > 0)) { status("the temperature must be positive", true); return; }
  $("out-prime").textContent = opts.prime;
  $("out-gen").textContent = "";
  out.dataset.seed = String(seed);
  running = true; stopRequested = false;
  $("sample-btn").disabled = true; $("stop-btn").disabled = false;
  status(`sampling (seed ${seed})...`);
  let pending = "", last = performance.now();
  const flush = () => { $("out-gen").append(pending); pending = ""; };
  try {
    const r = await sample(model, opts, (piece) => {
      pending += piece;
      const now = performance.now();
      if (now - last > SHOW_EVERY_MS) { flush(); last = now; }
      return !stopRequested;
    });
    flush();
    const rate = r.chars / Math.max(r.seconds, 1e-9);
    $("speed").textContent = `${Math.round(rate).toLocaleString("en")} chars/s`;
    out.dataset.charsPerS = rate.toFixed(1);
    out.dataset.chars = String(r.chars);
    status(`${r.chars} characters in ${r.seconds.toFixed(2)} s, seed ${seed}`);
  } catch (e) {
    flush();
    status(String(e.message || e), true);
  } finally {
    running = false;
    $("sample-btn").disabled = false; $("stop-btn").disabled = true;
    out.dataset.done = "true";
  }
}

async function main() {
  status("loading the model...");
  try {
    model = await loadModel(ort, ".");
  } catch (e) {
    status(`could not load the model: ${e.message || e}`, true);
    return;
  }
  $("model-info").textContent = describe(model.meta);
  $("sample-btn").disabled = false;
  $("sample-btn").onclick = run;
  $("stop-btn").onclick = () => { stopRequested = true; };
  document.body.dataset.ready = "true";
  status("ready");
}

main();
