// charwise's sampler for the exported page: the vocabulary, PyTorch's CPU random generator and
// `charwise sample`'s draw, around an onnxruntime-web session of model.onnx (one step per
// character). No DOM here: page.js drives it.
//
// The same seed gives the same text as `charwise sample --seed S` where the numerics allow: the
// random numbers are torch's own (MT19937 seeded as torch.Generator.manual_seed, torch.rand's
// 24-bit floats, randint's modulo), the draw is sampling.draw's inverse CDF over float32
// cumulative sums, and temperature and top-k are filter_logits'. What differs is the logits
// (onnxruntime's WebAssembly kernels against PyTorch's, ~1e-6 apart) and softmax's last bits,
// so a draw whose uniform falls within about 1e-6 of a boundary between two characters can
// go the other way, and the texts part from there.

const YIELD_EVERY_MS = 40; // hand the page its event loop this often: repaint, Stop, typing

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const f32 = Math.fround;

/** The largest float32 below x (x > 0): torch.nextafter(total, 0) in float32. */
function below(x) {
  F32[0] = x;
  U32[0] -= 1;
  return F32[0];
}

/** MT19937 as torch's CPU generator runs it (at::mt19937, seeded with the seed's low 32 bits). */
export class TorchGenerator {
  constructor(seed) {
    const s = Number(BigInt.asUintN(32, BigInt(seed)));
    this.mt = new Uint32Array(624);
    this.mt[0] = s;
    for (let j = 1; j < 624; j++) {
      const p = this.mt[j - 1] ^ (this.mt[j - 1] >>> 30);
      this.mt[j] = (Math.imul(1812433253, p) + j) >>> 0;
    }
    this.i = 624;
  }
  /** The next 32-bit output (generator->random()). */
  next() {
    if (this.i >= 624) this.twist();
    let y = this.mt[this.i++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
  twist() {
    const mt = this.mt;
    for (let k = 0; k < 624; k++) {
      const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
      mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.i = 0;
  }
  /** torch.rand's float32 in [0, 1): the low 24 bits over 2^24. */
  rand() {
    return (this.next() & 0xffffff) / 16777216;
  }
  /** torch.randint(n, (1,)) for n < 2^32. */
  randint(n) {
    return this.next() % n;
  }
}

/** vocab.json: ids <-> characters (code points), or bytes decoded as UTF-8 as they stream. */
export class Vocab {
  constructor(json) {
    this.bytes = json.mode === "bytes";
    this.symbols = json.symbols;
    this.unk = json.unk ? this.symbols.length : null;
    this.size = this.symbols.length + (json.unk ? 1 : 0);
    this.index = new Map(this.symbols.map((s, i) => [s, i]));
  }
  /** Text -> ids; throws naming the characters the model does not know (as --prime does). */
  encode(text) {
    const syms = this.bytes ? [...new TextEncoder().encode(text)] : [...text].map((c) => c.codePointAt(0));
    const bad = new Set();
    const ids = syms.map((s) => {
      const i = this.index.get(s);
      if (i !== undefined) return i;
      if (this.unk !== null) return this.unk;
      bad.add(this.bytes ? `byte 0x${s.toString(16).padStart(2, "0")}` : String.fromCodePoint(s));
      return -1;
    });
    if (bad.size) throw new Error(`the prime has characters that are not in the model's vocabulary: ${[...bad].slice(0, 10).join(", ")}`);
    return ids;
  }
  /** The id to start from without a prime: a newline where the vocabulary has one. */
  newline() {
    const i = this.index.get(10);
    return i === undefined ? null : i;
  }
  /** A streaming decoder: decode(id) -> the text it completes ("" inside a UTF-8 sequence). */
  decoder() {
    if (!this.bytes) {
      return { decode: (i) => (i === this.unk ? "\ufffd" : String.fromCodePoint(this.symbols[i])), flush: () => "" };
    }
    const utf8 = new TextDecoder("utf-8");
    const one = new Uint8Array(1);
    return {
      decode: (i) => { one[0] = i < this.symbols.length ? this.symbols[i] : 0x3f; return utf8.decode(one, { stream: true }); },
      flush: () => utf8.decode(),
    };
  }
}

/** (V,) logits -> (V,) probabilities as filter_logits computes them (float32 logits / T,
 * top-k by the k-th largest, ties kept, softmax). */
export function probabilities(logits, temperature, topK) {
  const V = logits.length;
  const t = f32(temperature);
  const z = new Float64Array(V);
  for (let i = 0; i < V; i++) z[i] = f32(logits[i] / t);
  if (topK && topK < V) {
    const kth = Float64Array.from(z).sort().reverse()[topK - 1];
    for (let i = 0; i < V; i++) if (z[i] < kth) z[i] = -Infinity;
  }
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (z[i] > max) max = z[i];
  let sum = 0;
  const p = new Float64Array(V);
  for (let i = 0; i < V; i++) { p[i] = Math.exp(z[i] - max); sum += p[i]; }
  for (let i = 0; i < V; i++) p[i] = f32(p[i] / sum);
  return p;
}

/** One draw as sampling.draw makes it: float32 cumulative sums (accumulated in double, as
 * torch's CPU cumsum does), u = rand * total kept below total, the first sum above u. */
export function draw(p, gen) {
  const V = p.length;
  const cdf = new Float64Array(V);
  let acc = 0;
  for (let i = 0; i < V; i++) { acc += p[i]; cdf[i] = f32(acc); }
  const total = cdf[V - 1];
  const u = Math.min(f32(gen.rand() * total), below(total));
  let lo = 0, hi = V - 1;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] > u) hi = mid; else lo = mid + 1; }
  return lo;
}

/** A macrotask boundary: onnxruntime-web's run resolves through microtasks only, so a loop of
 * awaited steps would otherwise hold the page (no repaint, no input) until it ends. A message
 * task, not setTimeout (clamped to 4 ms when nested) nor scheduler.yield (its continuations
 * outrank the page's other tasks, which then starve). */
function yieldToPage() {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => resolve();
    ch.port2.postMessage(0);
  });
}

/** model.json, vocab.json and an onnxruntime-web session of model.onnx from `base`. */
export async function loadModel(ort, base = ".") {
  const json = async (name) => {
    const r = await fetch(`${base}/${name}`);
    if (!r.ok) throw new Error(`${name}: ${r.status} ${r.statusText}`);
    return r.json();
  };
  const [meta, vocabJson] = await Promise.all([json("model.json"), json("vocab.json")]);
  const session = await ort.InferenceSession.create(`${base}/model.onnx`, { executionProviders: ["wasm"] });
  return { ort, meta, vocab: new Vocab(vocabJson), session };
}

/** Generate `length` characters after `prime`; onText(piece) receives the text as it comes and
 * returns false to stop. Resolves to {text, chars, seconds} (seconds: the generation only,
 * after the prime was read). */
export async function sample(model, { prime = "", length = 500, temperature = 1, topK = null, seed = 0n }, onText) {
  const { ort, meta, vocab, session } = model;
  const gen = new TorchGenerator(seed);
  let ids = prime ? vocab.encode(prime) : [];
  if (!ids.length) ids = [vocab.newline() ?? gen.randint(vocab.size)];
  const dims = [meta.layers, 1, meta.hidden];
  let state = Object.fromEntries(meta.state.map((n) => [n, new ort.Tensor("float32", new Float32Array(meta.layers * meta.hidden), dims)]));
  const step = async (id) => {
    const out = await session.run({ ids: new ort.Tensor("int64", BigInt64Array.of(BigInt(id)), [1]), ...state });
    state = Object.fromEntries(meta.state.map((n) => [n, out[`${n}_out`]]));
    return out.logits.data;
  };
  for (const id of ids.slice(0, -1)) await step(id);
  const dec = vocab.decoder();
  let x = ids[ids.length - 1], text = "", chars = 0;
  const t0 = performance.now();
  let yielded = t0;
  for (; chars < length; chars++) {
    x = draw(probabilities(await step(x), temperature, topK), gen);
    const piece = dec.decode(x);
    text += piece;
    if (onText(piece) === false) { chars++; break; }
    if (performance.now() - yielded > YIELD_EVERY_MS) { await yieldToPage(); yielded = performance.now(); }
  }
  const tail = dec.flush();
  text += tail;
  if (tail) onText(tail);
  return { text, chars, seconds: (performance.now() - t0) / 1000 };
}
