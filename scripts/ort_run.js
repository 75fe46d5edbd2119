#!/usr/bin/env node
// nnport's ONNX Runtime oracle: run an ONNX model on .npy inputs with
// onnxruntime-node and write the outputs in the same layout as `nnport run`.
//
//   node scripts/ort_run.js MODEL.onnx --input NAME=FILE.npy ... --output-dir DIR [--threads N]
//   node scripts/ort_run.js MODEL.onnx [--input ...] --bench REPEAT [--warmup N] [--threads N]
//   node scripts/ort_run.js MODEL.onnx --info
//   node scripts/ort_run.js MODEL.onnx --batch-list LIST.tsv [--threads N]
//
// Run mode writes DIR/output_<i>.npy for every model output (i = position in
// the graph's output list) and DIR/outputs.json:
//   {"outputs":[{"index":0,"name":"logits","shape":[1,1000],"dtype":"float32","file":"output_0.npy"}]}
// Bench mode prints one JSON object (median latency in ms, session create time,
// peak RSS) on stdout; inputs not given are synthesised from the model's
// static input shapes (floats: seeded uniform [-1,1), integers/bools: 0).
//
// Batch-list mode loads the model once and runs it on many input sets: each
// non-empty, non-# line of LIST.tsv is OUTDIR<TAB>[NAME=]FILE.npy[<TAB>...];
// relative paths are relative to the list file's directory.  Every OUTDIR
// gets the same files as run mode.
//
// onnxruntime-node is loaded from $NNPORT_CACHE/ort/node_modules (default
// ~/.cache/nnport/ort), where scripts/setup.sh installs it.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const PROG = 'ort_run';

function fail(msg, code = 1) {
  process.stderr.write(`${PROG}: error: ${msg}\n`);
  process.exit(code);
}

const USAGE = `usage: node scripts/ort_run.js MODEL.onnx [--input [NAME=]FILE.npy ...] [--output-dir DIR]
                   [--threads N] [--opt disabled|basic|extended|all]
                   [--bench REPEAT [--warmup N]] [--batch-list LIST.tsv] [--info] [--quiet]`;

// ---------------------------------------------------------------- .npy I/O

// numpy type code (without byte order) -> onnxruntime tensor type
const NPY_TYPES = {
  f4: { ort: 'float32', Arr: Float32Array, size: 4 },
  f8: { ort: 'float64', Arr: Float64Array, size: 8 },
  f2: { ort: 'float16', Arr: Uint16Array, size: 2 },   // raw IEEE half bits
  i8: { ort: 'int64', Arr: BigInt64Array, size: 8 },
  u8: { ort: 'uint64', Arr: BigUint64Array, size: 8 },
  i4: { ort: 'int32', Arr: Int32Array, size: 4 },
  u4: { ort: 'uint32', Arr: Uint32Array, size: 4 },
  i2: { ort: 'int16', Arr: Int16Array, size: 2 },
  u2: { ort: 'uint16', Arr: Uint16Array, size: 2 },
  i1: { ort: 'int8', Arr: Int8Array, size: 1 },
  u1: { ort: 'uint8', Arr: Uint8Array, size: 1 },
  b1: { ort: 'bool', Arr: Uint8Array, size: 1 },
};
const ORT_TO_DESCR = {};
for (const [code, t] of Object.entries(NPY_TYPES)) {
  ORT_TO_DESCR[t.ort] = (t.size === 1 ? '|' : '<') + code;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function product(dims) {
  return dims.reduce((a, b) => a * b, 1);
}

// Reverse the axis order of a C-ordered array (turns a Fortran-ordered
// buffer of shape S into the C-ordered buffer of shape S).
function reverseAxes(src, dims, Arr) {
  // src is C-ordered with shape rev(dims); produce C-ordered with shape dims
  const n = product(dims);
  const out = new Arr(n);
  const nd = dims.length;
  const rdims = dims.slice().reverse();
  const rstride = new Array(nd);
  let s = 1;
  for (let k = nd - 1; k >= 0; k--) { rstride[k] = s; s *= rdims[k]; }
  const idx = new Array(nd).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let k = 0; k < nd; k++) off += idx[k] * rstride[nd - 1 - k];
    out[i] = src[off];
    for (let k = nd - 1; k >= 0; k--) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

function readNpy(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    fail(`cannot read ${file}: ${e.message}`);
  }
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    fail(`${file}: not a .npy file (bad magic)`);
  }
  const major = buf[6];
  let hlen, hstart;
  if (major === 1) { hlen = buf.readUInt16LE(8); hstart = 10; }
  else if (major === 2 || major === 3) { hlen = buf.readUInt32LE(8); hstart = 12; }
  else fail(`${file}: unsupported .npy format version ${major}.${buf[7]}`);
  if (hstart + hlen > buf.length) fail(`${file}: truncated header`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', hstart, hstart + hlen);
  const mDescr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(header);
  const mFort = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const mShape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!mDescr || !mFort || !mShape) fail(`${file}: cannot parse header ${JSON.stringify(header)}`);
  const descr = mDescr[1];
  const order = descr[0];
  const code = /^[<>|=]/.test(descr) ? descr.slice(1) : descr;
  const t = NPY_TYPES[code];
  if (!t) fail(`${file}: unsupported dtype '${descr}' (supported: ${Object.keys(NPY_TYPES).join(' ')})`);
  const dims = mShape[1].split(',').map((s) => s.trim().replace(/L$/, '')).filter((s) => s.length)
    .map((s) => {
      const v = Number(s);
      if (!Number.isInteger(v) || v < 0) fail(`${file}: bad shape entry '${s}'`);
      return v;
    });
  const count = product(dims);
  const need = count * t.size;
  const data = buf.subarray(hstart + hlen);
  if (data.length < need) fail(`${file}: ${data.length} data bytes, shape ${JSON.stringify(dims)} of ${descr} needs ${need}`);
  const ab = new ArrayBuffer(need);
  const bytes = new Uint8Array(ab);
  bytes.set(data.subarray(0, need));
  const bigEndian = order === '>' || (order === '=' && !LITTLE_ENDIAN);
  if (t.size > 1 && bigEndian === LITTLE_ENDIAN) {
    for (let i = 0; i < need; i += t.size) bytes.subarray(i, i + t.size).reverse();
  }
  let arr = new t.Arr(ab);
  if (mFort[1] === 'True' && dims.length > 1) arr = reverseAxes(arr, dims, t.Arr);
  return { type: t.ort, dims, data: arr, descr };
}

function npyBytes(type, dims, data) {
  const descr = ORT_TO_DESCR[type];
  if (!descr) throw new Error(`cannot write tensor type '${type}' as .npy`);
  const shape = dims.length === 0 ? '()' : dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + h.length + 1;
  h += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre[0] = 0x93;
  pre.write('NUMPY', 1, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(h.length, 8);
  let body;
  if (ArrayBuffer.isView(data)) body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  else if (Array.isArray(data) && type === 'bool') body = Buffer.from(data.map((v) => (v ? 1 : 0)));
  else throw new Error(`unexpected data for tensor type '${type}'`);
  return Buffer.concat([pre, Buffer.from(h, 'latin1'), body]);
}

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const a = { model: null, inputs: [], outDir: null, threads: null, bench: 0, warmup: 1, info: false,
              opt: null, quiet: false, batchList: null };
  const need = (i, flag) => {
    if (i + 1 >= argv.length) fail(`${flag} needs a value\n${USAGE}`, 2);
    return argv[i + 1];
  };
  const posInt = (v, flag, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) fail(`${flag} wants an integer >= ${min}, got '${v}'`, 2);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    const eq = s.startsWith('--') ? s.indexOf('=') : -1;
    const flag = eq > 0 ? s.slice(0, eq) : s;
    let val;
    const take = () => {
      if (eq > 0) return s.slice(eq + 1);
      val = need(i, flag);
      i++;
      return val;
    };
    switch (flag) {
      case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
      case '--input': case '-i': a.inputs.push(take()); break;
      case '--output-dir': case '-o': a.outDir = take(); break;
      case '--threads': case '-t': a.threads = posInt(take(), flag, 1); break;
      case '--bench': a.bench = posInt(take(), flag, 1); break;
      case '--warmup': a.warmup = posInt(take(), flag, 0); break;
      case '--opt': a.opt = take(); break;
      case '--info': a.info = true; break;
      case '--batch-list': a.batchList = take(); break;
      case '--quiet': case '-q': a.quiet = true; break;
      default:
        if (s.startsWith('-')) fail(`unknown option '${s}'\n${USAGE}`, 2);
        if (a.model === null) a.model = s;
        else a.inputs.push(s);  // bare FILE.npy after the model: positional input
    }
  }
  if (!a.model) fail(`no model given\n${USAGE}`, 2);
  if (a.batchList && (a.bench || a.outDir || a.inputs.length)) fail('--batch-list excludes --bench, --output-dir and --input', 2);
  if (!a.info && !a.bench && !a.outDir && !a.batchList) fail(`--output-dir is required (or use --bench / --info)\n${USAGE}`, 2);
  if (a.opt && !['disabled', 'basic', 'extended', 'all'].includes(a.opt)) fail(`--opt: unknown level '${a.opt}'`, 2);
  return a;
}

// ---------------------------------------------------------------- ORT

function loadOrt() {
  const cache = process.env.NNPORT_CACHE || path.join(os.homedir(), '.cache', 'nnport');
  const candidates = [path.join(cache, 'ort', 'node_modules', 'onnxruntime-node'), 'onnxruntime-node'];
  const errs = [];
  for (const c of candidates) {
    try {
      return require(c);
    } catch (e) {
      errs.push(`  ${c}: ${String(e.message).split('\n')[0]}`);
    }
  }
  fail(`cannot load onnxruntime-node (run scripts/setup.sh to install it):\n${errs.join('\n')}`);
  return null;
}

function metaOf(session) {
  // onnxruntime-node >= 1.21 has inputMetadata/outputMetadata arrays
  const mk = (names, meta) => names.map((n, i) => {
    const m = Array.isArray(meta) ? meta[i] : null;
    return { name: n, type: m && m.isTensor ? m.type : null, shape: m && m.isTensor ? m.shape : null };
  });
  return { inputs: mk(session.inputNames, session.inputMetadata), outputs: mk(session.outputNames, session.outputMetadata) };
}

// small deterministic PRNG for synthesised bench inputs
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function synthInput(ort, m) {
  if (!m.type || !m.shape) fail(`cannot synthesise input '${m.name}': no tensor metadata; give --input`);
  const dims = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : NaN));
  if (dims.some(Number.isNaN)) fail(`input '${m.name}' has dynamic shape ${JSON.stringify(m.shape)}; give --input ${m.name}=FILE.npy`);
  const n = product(dims);
  const code = Object.keys(NPY_TYPES).find((k) => NPY_TYPES[k].ort === m.type);
  if (!code) fail(`cannot synthesise input '${m.name}' of type ${m.type}`);
  const data = new NPY_TYPES[code].Arr(n);
  if (m.type === 'float32' || m.type === 'float64') {
    const r = mulberry32(1234);
    for (let i = 0; i < n; i++) data[i] = r() * 2 - 1;
  }
  return new ort.Tensor(m.type, data, dims);
}

function checkInput(name, arr, m, file) {
  if (m.type && m.type !== arr.type) fail(`input '${name}' (${file}) is ${arr.type} but the model wants ${m.type}`);
  if (m.shape) {
    const bad = m.shape.length !== arr.dims.length ||
      m.shape.some((d, k) => typeof d === 'number' && d >= 0 && d !== arr.dims[k]);
    if (bad) fail(`input '${name}' (${file}) has shape ${JSON.stringify(arr.dims)} but the model wants ${JSON.stringify(m.shape)}`);
  }
}

function buildFeeds(ort, meta, specs, synth) {
  const byName = new Map(meta.inputs.map((m) => [m.name, m]));
  const feeds = {};
  let positional = 0;
  for (const spec of specs) {
    let name, file;
    const eq = spec.indexOf('=');
    if (eq > 0 && !fs.existsSync(spec)) {
      name = spec.slice(0, eq);
      file = spec.slice(eq + 1);
    } else {
      file = spec;
      while (positional < meta.inputs.length && feeds[meta.inputs[positional].name]) positional++;
      if (positional >= meta.inputs.length) fail(`more inputs given than the model has (${meta.inputs.length})`);
      name = meta.inputs[positional++].name;
    }
    if (!byName.has(name)) fail(`model has no input '${name}' (inputs: ${meta.inputs.map((m) => m.name).join(', ')})`);
    if (feeds[name]) fail(`input '${name}' given twice`);
    const arr = readNpy(file);
    checkInput(name, arr, byName.get(name), file);
    feeds[name] = new ort.Tensor(arr.type, arr.data, arr.dims);
  }
  for (const m of meta.inputs) {
    if (feeds[m.name]) continue;
    if (!synth) {
      fail(`missing input '${m.name}' (${m.type} ${JSON.stringify(m.shape)}); give --input ${m.name}=FILE.npy`);
    }
    feeds[m.name] = synthInput(ort, m);
  }
  return feeds;
}

function writeOutputs(outDir, meta, results, quiet) {
  fs.mkdirSync(outDir, { recursive: true });
  const outs = [];
  meta.outputs.forEach((m, i) => {
    const t = results[m.name];
    if (!t) fail(`onnxruntime returned no value for output '${m.name}'`);
    const file = `output_${i}.npy`;
    try {
      fs.writeFileSync(path.join(outDir, file), npyBytes(t.type, t.dims, t.data));
    } catch (e) {
      fail(`writing ${file}: ${e.message}`);
    }
    outs.push({ index: i, name: m.name, shape: Array.from(t.dims), dtype: t.type, file });
    if (!quiet) process.stderr.write(`${PROG}: output ${i} '${m.name}' ${t.type} [${t.dims.join(',')}] -> ${path.join(outDir, file)}\n`);
  });
  const lines = outs.map((o) => '  ' + JSON.stringify(o));
  fs.writeFileSync(path.join(outDir, 'outputs.json'), `{"outputs": [\n${lines.join(',\n')}\n]}\n`);
}

function ms(t0, t1) {
  return Number(t1 - t0) / 1e6;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(a.model)) fail(`model not found: ${a.model}`);
  const ort = loadOrt();
  const opts = { interOpNumThreads: 1 };
  if (a.threads) opts.intraOpNumThreads = a.threads;
  if (a.opt) opts.graphOptimizationLevel = a.opt;
  const rssBefore = process.memoryUsage().rss;
  const tc0 = process.hrtime.bigint();
  let session;
  try {
    session = await ort.InferenceSession.create(a.model, opts);
  } catch (e) {
    fail(`onnxruntime could not load ${a.model}: ${e.message}`);
  }
  const createMs = ms(tc0, process.hrtime.bigint());
  const meta = metaOf(session);
  if (a.info) {
    process.stdout.write(JSON.stringify({ model: a.model, ort_version: ort.env.versions ? ort.env.versions.common : undefined,
                                          ...meta, session_create_ms: createMs }, null, 1) + '\n');
    return;
  }

  if (a.batchList) {
    let text;
    try {
      text = fs.readFileSync(a.batchList, 'utf8');
    } catch (e) {
      fail(`cannot read ${a.batchList}: ${e.message}`);
    }
    const base = path.dirname(path.resolve(a.batchList));
    const abs = (p) => (path.isAbsolute(p) ? p : path.join(base, p));
    const jobs = text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() && !l.startsWith('#'));
    const t0 = process.hrtime.bigint();
    for (const line of jobs) {
      const [dir, ...specs] = line.split('\t');
      const absSpecs = specs.map((sp) => {
        const eq = sp.indexOf('=');
        return eq > 0 && !fs.existsSync(abs(sp)) ? sp.slice(0, eq + 1) + abs(sp.slice(eq + 1)) : abs(sp);
      });
      const f = buildFeeds(ort, meta, absSpecs, false);
      let r;
      try {
        r = await session.run(f);
      } catch (e) {
        fail(`onnxruntime run failed on line '${line}': ${e.message}`);
      }
      writeOutputs(abs(dir), meta, r, true);
    }
    if (!a.quiet) process.stderr.write(`${PROG}: ${jobs.length} runs of ${a.model} in ${ms(t0, process.hrtime.bigint()).toFixed(0)} ms (session create ${createMs.toFixed(0)} ms)\n`);
    if (typeof session.release === 'function') await session.release();
    return;
  }

  const feeds = buildFeeds(ort, meta, a.inputs, !!a.bench);
  const run = async () => {
    try {
      return await session.run(feeds);
    } catch (e) {
      fail(`onnxruntime run failed: ${e.message}`);
    }
    return null;
  };

  let results = null;
  if (a.bench) {
    const tf0 = process.hrtime.bigint();
    results = await run();
    const firstMs = ms(tf0, process.hrtime.bigint());
    for (let i = 1; i < a.warmup; i++) await run();
    const times = [];
    for (let i = 0; i < a.bench; i++) {
      const t0 = process.hrtime.bigint();
      await run();
      times.push(ms(t0, process.hrtime.bigint()));
    }
    const sorted = times.slice().sort((x, y) => x - y);
    const mid = sorted.length >> 1;
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    const r3 = (v) => Math.round(v * 1000) / 1000;
    const out = {
      runtime: 'onnxruntime-node', ort_version: ort.env.versions ? ort.env.versions.common : undefined,
      model: a.model, threads: a.threads || null, session_create_ms: r3(createMs), first_run_ms: r3(firstMs),
      warmup: a.warmup, repeat: a.bench, median_ms: r3(median), min_ms: r3(sorted[0]),
      max_ms: r3(sorted[sorted.length - 1]), mean_ms: r3(times.reduce((x, y) => x + y, 0) / times.length),
      rss_before_load_mb: r3(rssBefore / 1048576), max_rss_mb: r3(process.resourceUsage().maxRSS / 1024),
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } else {
    results = await run();
  }

  if (a.outDir) writeOutputs(a.outDir, meta, results, a.quiet || !!a.bench);
  if (typeof session.release === 'function') await session.release();
}

main().then(() => process.exit(0), (e) => fail(e && e.stack ? e.stack : String(e)));
