#!/usr/bin/env node
/*
 * conformance/ort/ocs-ort.js - runs an exported OCS case tree on ONNX
 * Runtime's CPU provider (onnxruntime-node), for the runner's command
 * protocol, version 1.
 *
 *   node ocs-ort.js IN OUT     run every case under IN, write results under OUT
 *   node ocs-ort.js --probe    exit 0 and print the ORT version when ORT loads and runs
 *   node ocs-ort.js --version  print the adapter's protocol and ORT's version
 *
 * A case is a folder (at any depth under IN) holding at least one of the
 * model variants below and test_data_set_N/input_i.pb files in ONNX's
 * backend-test layout.  For each case at IN/<path>, the adapter loads the
 * first variant ORT accepts, in this order:
 *   model_com.microsoft.onnx   the case expressed with ORT's contrib ops
 *   model.onnx                 the case itself
 *   model_expanded.onnx        its function body in standard ops
 * and writes under OUT/<path>/ exactly one of:
 *   VARIANT + test_data_set_N/output_j.pb   it ran: the file that ran, and
 *                                           each output as a TensorProto
 *   SKIP                                    no variant loads (ORT's reasons),
 *                                           or the case needs a value kind or
 *                                           element type ORT's JavaScript API
 *                                           cannot pass
 *   ERROR                                   a variant loaded but failed to run,
 *                                           or its data could not be read
 *                                           (a contrib-op variant that fails to
 *                                           run gives way to the next variant)
 * plus OUT/VERSION naming the runtime.  input_i binds to the model's graph
 * input i, output_j is the graph's output j.
 *
 * Cases run one after the other in a worker process on one ORT thread
 * (OCS_ORT_THREADS changes that); a case that kills the worker or runs past
 * OCS_ORT_CASE_TIMEOUT seconds (default 300) gets an ERROR and a fresh
 * worker takes the next one.
 *
 * Exit status: 0 when the tree was processed (whatever each case gave),
 * 2 on a usage error, 77 when onnxruntime-node cannot be loaded or run
 * (the protocol's "not available here": the runner reports every case as
 * skipped).
 * onnxruntime-node is found as require() finds it (NODE_PATH, or a
 * node_modules folder beside this file or above it).  No other package is
 * needed: TensorProto and the parts of ModelProto read here are decoded by
 * the small protobuf reader below.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const PROTOCOL = 1;
const CONTRIB_VARIANT = 'model_com.microsoft.onnx';
const VARIANTS = [CONTRIB_VARIANT, 'model.onnx', 'model_expanded.onnx'];

/* ---- protobuf wire format ------------------------------------------------------------ */

class Reader {
    constructor(buf) {
        this.buf = buf;
        this.pos = 0;
    }

    eof() {
        return this.pos >= this.buf.length;
    }

    /* A varint as a BigInt (exact for every 64-bit value). */
    varint() {
        let result = 0n;
        let shift = 0n;
        for (;;) {
            if (this.pos >= this.buf.length) throw new Error('truncated varint');
            const b = this.buf[this.pos++];
            result |= BigInt(b & 0x7f) << shift;
            if (!(b & 0x80)) return result;
            shift += 7n;
            if (shift > 63n) throw new Error('varint longer than 10 bytes');
        }
    }

    /* A varint that must fit a JavaScript number (tags, lengths, small enums). */
    small() {
        const v = this.varint();
        if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('length or tag out of range');
        return Number(v);
    }

    bytes() {
        const len = this.small();
        if (this.pos + len > this.buf.length) throw new Error('truncated length-delimited field');
        const b = this.buf.subarray(this.pos, this.pos + len);
        this.pos += len;
        return b;
    }

    fixed(n) {
        if (this.pos + n > this.buf.length) throw new Error('truncated fixed-width field');
        const b = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        return b;
    }

    skip(wire) {
        switch (wire) {
            case 0: this.varint(); break;
            case 1: this.fixed(8); break;
            case 2: this.bytes(); break;
            case 5: this.fixed(4); break;
            default: throw new Error(`unsupported wire type ${wire}`);
        }
    }

    /* Calls fn(field, wire) for each field; fn returns false when it did not consume the value. */
    fields(fn) {
        while (!this.eof()) {
            const tag = this.small();
            const field = Math.floor(tag / 8);
            const wire = tag & 7;
            if (field === 0) throw new Error('field number 0');
            if (!fn(field, wire)) this.skip(wire);
        }
    }
}

/* Reads a repeated scalar field, packed (wire 2) or not: one(reader) reads one element. */
function repeated(r, wire, elemWire, one, out) {
    if (wire === 2) {
        const sub = new Reader(r.bytes());
        while (!sub.eof()) out.push(one(sub));
    } else if (wire === elemWire) {
        out.push(one(r));
    } else {
        throw new Error(`wire type ${wire} for a repeated field of wire type ${elemWire}`);
    }
}

const readFloat = (r) => Buffer.from(r.fixed(4)).readFloatLE(0);
const readDouble = (r) => Buffer.from(r.fixed(8)).readDoubleLE(0);
const readVarint = (r) => r.varint();

class Writer {
    constructor() {
        this.parts = [];
    }

    varint(v) {
        let x = BigInt.asUintN(64, BigInt(v));
        const bytes = [];
        do {
            let b = Number(x & 0x7fn);
            x >>= 7n;
            if (x) b |= 0x80;
            bytes.push(b);
        } while (x);
        this.parts.push(Buffer.from(bytes));
    }

    tag(field, wire) {
        this.varint(field * 8 + wire);
    }

    bytesField(field, b) {
        this.tag(field, 2);
        this.varint(b.length);
        this.parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    }

    varintField(field, v) {
        this.tag(field, 0);
        this.varint(v);
    }

    messageField(field, w) {
        this.bytesField(field, w.finish());
    }

    finish() {
        return Buffer.concat(this.parts);
    }
}

/* ---- TensorProto --------------------------------------------------------------------- */

/* ONNX TensorProto.DataType -> onnxruntime-common type name and storage. */
const DTYPES = {
    1: { name: 'FLOAT', ort: 'float32', array: Float32Array },
    2: { name: 'UINT8', ort: 'uint8', array: Uint8Array },
    3: { name: 'INT8', ort: 'int8', array: Int8Array },
    4: { name: 'UINT16', ort: 'uint16', array: Uint16Array },
    5: { name: 'INT16', ort: 'int16', array: Int16Array },
    6: { name: 'INT32', ort: 'int32', array: Int32Array },
    7: { name: 'INT64', ort: 'int64', array: BigInt64Array },
    8: { name: 'STRING', ort: 'string', array: null },
    9: { name: 'BOOL', ort: 'bool', array: Uint8Array },
    10: { name: 'FLOAT16', ort: 'float16', array: Uint16Array },
    11: { name: 'DOUBLE', ort: 'float64', array: Float64Array },
    12: { name: 'UINT32', ort: 'uint32', array: Uint32Array },
    13: { name: 'UINT64', ort: 'uint64', array: BigUint64Array },
};
/* onnxruntime-node 1.30 rejects int4/uint4 inputs ("Tensor.type is not supported") and aborts the
 * process on int4/uint4 outputs, so those cases are skipped with the other types it cannot pass. */
const DTYPE_NAMES = {
    14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16', 17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ',
    19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ', 21: 'UINT4', 22: 'INT4', 23: 'FLOAT4E2M1', 24: 'FLOAT8E8M0', 25: 'UINT2', 26: 'INT2',
};
const ORT_TO_ONNX = Object.fromEntries(Object.entries(DTYPES).map(([code, d]) => [d.ort, Number(code)]));

function dtypeName(code) {
    return DTYPES[code] ? DTYPES[code].name : DTYPE_NAMES[code] || `type ${code}`;
}

/* Decodes a TensorProto's fields (dims 1, data_type 2, float_data 4, int32_data 5, string_data 6,
 * int64_data 7, name 8, raw_data 9, double_data 10, uint64_data 11, data_location 14). */
function decodeTensorProto(buf) {
    const t = {
        dims: [], dataType: 0, name: '', raw: null, floats: [], int32s: [], strings: [], int64s: [],
        doubles: [], uint64s: [], external: false,
    };
    const r = new Reader(buf);
    r.fields((field, wire) => {
        switch (field) {
            case 1: repeated(r, wire, 0, readVarint, t.dims); return true;
            case 2: t.dataType = Number(BigInt.asIntN(32, r.varint())); return true;
            case 4: repeated(r, wire, 5, readFloat, t.floats); return true;
            case 5: repeated(r, wire, 0, readVarint, t.int32s); return true;
            case 6: t.strings.push(r.bytes()); return true;
            case 7: repeated(r, wire, 0, readVarint, t.int64s); return true;
            case 8: t.name = Buffer.from(r.bytes()).toString('utf8'); return true;
            case 9: t.raw = r.bytes(); return true;
            case 10: repeated(r, wire, 1, readDouble, t.doubles); return true;
            case 11: repeated(r, wire, 0, readVarint, t.uint64s); return true;
            case 14: t.external = r.varint() === 1n; return true;
            default: return false;
        }
    });
    t.dims = t.dims.map((d) => Number(BigInt.asIntN(64, d)));
    return t;
}

/* The tensor's elements as { type, data, dims } ready for ort.Tensor. */
function tensorProtoToData(t, what) {
    const d = DTYPES[t.dataType];
    if (!d) throw new Unsupported(`${what} has element type ${dtypeName(t.dataType)}, which onnxruntime-node cannot pass`);
    if (t.external) throw new Error(`${what} keeps its data in an external file, which this adapter does not read`);
    for (const x of t.dims) if (!(x >= 0)) throw new Error(`${what} has a negative dimension ${x}`);
    const numel = t.dims.reduce((a, b) => a * b, 1);
    if (d.ort === 'string') {
        if (t.strings.length !== numel) throw new Error(`${what} holds ${t.strings.length} strings for ${numel} elements`);
        return { type: 'string', data: t.strings.map((s) => Buffer.from(s).toString('utf8')), dims: t.dims };
    }
    const nbytes = numel * d.array.BYTES_PER_ELEMENT;
    if (t.raw) {
        if (t.raw.length !== nbytes) throw new Error(`${what}: raw_data has ${t.raw.length} bytes, ${nbytes} expected`);
        const copy = new ArrayBuffer(nbytes);        /* aligned for the typed array */
        new Uint8Array(copy).set(t.raw);
        return { type: d.ort, data: new d.array(copy, 0, numel), dims: t.dims };
    }
    let values;
    switch (t.dataType) {
        case 1: values = t.floats; break;
        case 11: values = t.doubles; break;
        case 7: values = t.int64s.map((v) => BigInt.asIntN(64, v)); break;
        case 13: values = t.uint64s.map((v) => BigInt.asUintN(64, v)); break;
        case 12: values = t.uint64s.map((v) => Number(BigInt.asUintN(32, v))); break;
        default: values = t.int32s.map((v) => Number(BigInt.asIntN(32, v))); break;  /* int8..int32, uint8/16, bool, float16 bits */
    }
    if (values.length !== numel) {
        throw new Error(`${what} holds ${values.length} values for ${numel} ${dtypeName(t.dataType)} elements`);
    }
    const data = new d.array(numel);
    for (let i = 0; i < numel; i++) data[i] = values[i];
    return { type: d.ort, data, dims: t.dims };
}

/* A TensorProto for an onnxruntime-node output tensor (raw_data, or string_data for strings). */
function encodeTensorProto(tensor, name) {
    const code = ORT_TO_ONNX[tensor.type];
    if (!code) throw new Unsupported(`output '${name}' has ORT type ${tensor.type}, which has no TensorProto mapping here`);
    const w = new Writer();
    for (const d of tensor.dims) w.varintField(1, d);
    w.varintField(2, code);
    if (name) w.bytesField(8, Buffer.from(name, 'utf8'));
    if (tensor.type === 'string') {
        for (const s of tensor.data) w.bytesField(6, Buffer.from(String(s), 'utf8'));
    } else {
        const a = tensor.data;
        w.bytesField(9, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
    return w.finish();
}

/* ---- ModelProto: the graph's inputs and outputs ------------------------------------------ */

/* { name, kind: 'tensor' | 'sequence' | ..., elemType } for ValueInfoProto (name 1, type 2). */
function decodeValueInfo(buf) {
    const v = { name: '', kind: 'none', elemType: 0 };
    const r = new Reader(buf);
    r.fields((field, wire) => {
        if (field === 1 && wire === 2) { v.name = Buffer.from(r.bytes()).toString('utf8'); return true; }
        if (field === 2 && wire === 2) {
            /* TypeProto: tensor_type 1, sequence_type 4, map_type 5, sparse_tensor_type 8, optional_type 9 */
            const tr = new Reader(r.bytes());
            tr.fields((f, w) => {
                const kinds = { 1: 'tensor', 4: 'sequence', 5: 'map', 8: 'sparse tensor', 9: 'optional' };
                if (!kinds[f] || w !== 2) return false;
                v.kind = kinds[f];
                const body = tr.bytes();
                if (f === 1) {
                    const er = new Reader(body);   /* TypeProto.Tensor: elem_type 1 */
                    er.fields((ff, ww) => {
                        if (ff === 1 && ww === 0) { v.elemType = Number(er.varint()); return true; }
                        return false;
                    });
                }
                return true;
            });
            return true;
        }
        return false;
    });
    return v;
}

/* The main graph's inputs and outputs (ModelProto.graph 7; GraphProto.input 11, output 12). */
function graphSignature(modelBytes) {
    const sig = { inputs: [], outputs: [] };
    const r = new Reader(modelBytes);
    r.fields((field, wire) => {
        if (field !== 7 || wire !== 2) return false;
        const g = new Reader(r.bytes());
        g.fields((f, w) => {
            if (w !== 2 || (f !== 11 && f !== 12)) return false;
            (f === 11 ? sig.inputs : sig.outputs).push(decodeValueInfo(g.bytes()));
            return true;
        });
        return true;
    });
    return sig;
}

/* A one-node model y = Identity(x) over float[1], for --probe. */
function identityModel() {
    const shape = new Writer();
    const dim = new Writer();
    dim.varintField(1, 1);                       /* Dimension.dim_value */
    shape.messageField(1, dim);                  /* TensorShapeProto.dim */
    const tensorType = new Writer();
    tensorType.varintField(1, 1);                /* elem_type FLOAT */
    tensorType.messageField(2, shape);
    const type = new Writer();
    type.messageField(1, tensorType);
    const valueInfo = (name) => {
        const v = new Writer();
        v.bytesField(1, Buffer.from(name));
        v.messageField(2, type);
        return v;
    };
    const node = new Writer();
    node.bytesField(1, Buffer.from('x'));
    node.bytesField(2, Buffer.from('y'));
    node.bytesField(4, Buffer.from('Identity'));
    const graph = new Writer();
    graph.messageField(1, node);
    graph.bytesField(2, Buffer.from('probe'));
    graph.messageField(11, valueInfo('x'));
    graph.messageField(12, valueInfo('y'));
    const opset = new Writer();
    opset.bytesField(1, Buffer.from(''));
    opset.varintField(2, 13);
    const model = new Writer();
    model.varintField(1, 8);                     /* ir_version */
    model.messageField(7, graph);
    model.messageField(8, opset);
    return model.finish();
}

/* ---- running cases ------------------------------------------------------------------- */

class Unsupported extends Error {}

function loadOrt() {
    try {
        return require('onnxruntime-node');
    } catch (e) {
        const err = new Error(`cannot load onnxruntime-node (${e.message.split('\n')[0]}); install it with ` +
            '`npm install --prefix DIR --onnxruntime-node-install=skip onnxruntime-node` and set NODE_PATH=DIR/node_modules');
        err.code = 'OCS_NO_ORT';
        throw err;
    }
}

function ortVersion(ort) {
    let v = ort.env && ort.env.versions && ort.env.versions.node;
    if (!v) {
        try { v = require('onnxruntime-node/package.json').version; } catch (e) { v = 'unknown'; }
    }
    return `onnxruntime-node ${v}`;
}

function sessionOptions() {
    const threads = Number(process.env.OCS_ORT_THREADS || 1);
    return {
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        logSeverityLevel: 4,
    };
}

function message(e) {
    return String(e && e.message ? e.message : e).trim();
}

function isDir(p) {
    try { return fs.statSync(p).isDirectory(); } catch (e) { return false; }
}

function isFile(p) {
    try { return fs.statSync(p).isFile(); } catch (e) { return false; }
}

/* Folders under root that hold a model variant, as paths relative to root, sorted. */
function findCases(root, rel = '', out = []) {
    const dir = path.join(root, rel);
    if (VARIANTS.some((v) => isFile(path.join(dir, v)))) {
        out.push(rel);
        return out;
    }
    const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
    for (const n of names) if (isDir(path.join(dir, n))) findCases(root, path.join(rel, n), out);
    return out;
}

/* Files of dir named prefix<i>suffix, ordered by i; checks that i runs 0..n-1. */
function indexedFiles(dir, prefix, suffix) {
    if (!isDir(dir)) return [];
    const found = [];
    for (const n of fs.readdirSync(dir)) {
        if (!n.startsWith(prefix) || !n.endsWith(suffix)) continue;
        const idx = n.slice(prefix.length, n.length - suffix.length);
        if (/^\d+$/.test(idx)) found.push({ i: Number(idx), name: n });
    }
    found.sort((a, b) => a.i - b.i);
    found.forEach((f, k) => {
        if (f.i !== k) throw new Error(`${dir}: ${prefix}${k}${suffix} is missing`);
    });
    return found.map((f) => path.join(dir, f.name));
}

function dataSets(caseDir) {
    const sets = fs.readdirSync(caseDir).filter((n) => /^test_data_set_\d+$/.test(n) && isDir(path.join(caseDir, n)));
    sets.sort((a, b) => Number(a.slice(14)) - Number(b.slice(14)));
    return sets.length ? sets : ['test_data_set_0'];
}

/* Removes what an earlier run left for a case (never anything else in the folder). */
function clearCase(outDir) {
    if (!isDir(outDir)) return;
    for (const n of fs.readdirSync(outDir)) {
        if (n === 'VARIANT' || n === 'SKIP' || n === 'ERROR' || /^test_data_set_\d+$/.test(n)) {
            fs.rmSync(path.join(outDir, n), { recursive: true, force: true });
        }
    }
}

function writeFile(p, text) {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
}

/* Throws when a graph input or output is not a tensor of a type onnxruntime-node passes. */
function checkSignature(sig) {
    for (const [kind, list] of [['input', sig.inputs], ['output', sig.outputs]]) {
        for (const v of list) {
            if (v.kind !== 'tensor') {
                const article = /^[aeiou]/.test(v.kind) ? 'an' : 'a';
                throw new Unsupported(`graph ${kind} '${v.name}' is ${article} ${v.kind}; the adapter passes tensors only`);
            }
            if (v.elemType && !DTYPES[v.elemType]) {
                throw new Unsupported(`graph ${kind} '${v.name}' has element type ${dtypeName(v.elemType)}, ` +
                    'which onnxruntime-node cannot pass');
            }
        }
    }
}

/*
 * Runs every data set of one variant; returns {ran: true} after writing the
 * outputs, {loaded: false, reason} when ORT rejects the model, or
 * {loaded: true, skip, reason} when it loaded but could not run the data.
 */
async function runVariant(ort, caseDir, outDir, v) {
    const file = path.join(caseDir, v);
    let session;
    let sig;
    try {
        sig = graphSignature(fs.readFileSync(file));
        checkSignature(sig);
        session = await ort.InferenceSession.create(file, sessionOptions());
    } catch (e) {
        return { loaded: false, reason: `${v}: ${message(e)}` };
    }
    try {
        const outputNames = session.outputNames;
        for (const set of dataSets(caseDir)) {
            const inputs = indexedFiles(path.join(caseDir, set), 'input_', '.pb');
            if (inputs.length > sig.inputs.length) {
                throw new Error(`${set} has ${inputs.length} inputs, the model ${sig.inputs.length}`);
            }
            const feeds = {};
            inputs.forEach((f, i) => {
                const name = sig.inputs[i].name;
                const what = `${set}/input_${i}.pb ('${name}')`;
                const d = tensorProtoToData(decodeTensorProto(fs.readFileSync(f)), what);
                feeds[name] = new ort.Tensor(d.type, d.data, d.dims);
            });
            const results = await session.run(feeds);
            outputNames.forEach((name, j) => {
                const t = results[name];
                if (!t || typeof t.type !== 'string') {
                    throw new Unsupported(`output ${j} '${name}' is not a tensor`);
                }
                writeFile(path.join(outDir, set, `output_${j}.pb`), encodeTensorProto(t, name));
            });
        }
        return { ran: true };
    } catch (e) {
        clearCase(outDir);
        fs.mkdirSync(outDir, { recursive: true });
        return { loaded: true, skip: e instanceof Unsupported, reason: `${v}: ${message(e)}` };
    } finally {
        await session.release();
    }
}

/*
 * Runs one case; returns 'ran', 'skip' or 'error' after writing its result
 * files.  The contrib-op variant is an alternative encoding: when ORT loads it
 * but cannot run it (a kernel that lacks the combination), the next variant
 * runs instead and VARIANT records why.  A failure of the case's own model or
 * its function body is the case's result.
 */
async function runCase(ort, inRoot, outRoot, rel) {
    const caseDir = path.join(inRoot, rel);
    const outDir = path.join(outRoot, rel);
    clearCase(outDir);
    fs.mkdirSync(outDir, { recursive: true });

    const reasons = [];
    for (const v of VARIANTS) {
        if (!isFile(path.join(caseDir, v))) continue;
        const r = await runVariant(ort, caseDir, outDir, v);
        if (r.ran) {
            const notes = reasons.length ? `(${reasons.join('; ')})\n` : '';
            writeFile(path.join(outDir, 'VARIANT'), `${v}\n${notes}`);
            return 'ran';
        }
        reasons.push(r.reason);
        if (r.loaded && v !== CONTRIB_VARIANT) {
            writeFile(path.join(outDir, r.skip ? 'SKIP' : 'ERROR'), `${reasons.join('\n')}\n`);
            return r.skip ? 'skip' : 'error';
        }
    }
    writeFile(path.join(outDir, 'SKIP'), `no variant of this case runs on onnxruntime-node\n${reasons.join('\n')}\n`);
    return 'skip';
}

async function probe() {
    const ort = loadOrt();
    const s = await ort.InferenceSession.create(identityModel(), sessionOptions());
    const r = await s.run({ x: new ort.Tensor('float32', new Float32Array([42]), [1]) });
    await s.release();
    if (r.y.data[0] !== 42) throw new Error('ONNX Runtime ran Identity and returned the wrong value');
    return ortVersion(ort);
}

function usage(stream) {
    stream.write('usage: ocs-ort.js IN OUT | --probe | --version\n' +
        'Runs every case folder under IN (ONNX backend-test layout) on ONNX Runtime\'s CPU provider and\n' +
        'writes output_j.pb, VARIANT, SKIP or ERROR per case under OUT (command protocol 1).\n');
}

/* ---- isolation: cases run in a worker process ------------------------------------------- */

/*
 * onnxruntime-node can abort the whole process on some outputs (a native
 * allocation failure), and a case can hang.  So the cases run in a child
 * process; when it dies or overruns OCS_ORT_CASE_TIMEOUT seconds (default
 * 300), the case in flight gets an ERROR and a fresh child takes the rest.
 */
function startWorker() {
    const { fork } = require('child_process');
    return fork(__filename, ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function runInWorker(worker, inRoot, outRoot, rel, timeoutMs) {
    return new Promise((resolve) => {
        let timer = null;
        const finish = (r) => {
            clearTimeout(timer);
            worker.removeListener('message', onMessage);
            worker.removeListener('exit', onExit);
            resolve(r);
        };
        const onMessage = (m) => {
            if (m && m.rel === rel) finish({ result: m.result });
        };
        const onExit = (code, signal) => {
            finish({ died: signal ? `signal ${signal}` : `exit status ${code}` });
        };
        worker.on('message', onMessage);
        worker.on('exit', onExit);
        timer = setTimeout(() => {
            worker.removeListener('exit', onExit);
            worker.kill('SIGKILL');
            finish({ died: `no result after ${timeoutMs / 1000} s (killed)`, timeout: true });
        }, timeoutMs);
        worker.send({ inRoot, outRoot, rel });
    });
}

async function runTree(inRoot, outRoot, cases) {
    const timeoutMs = 1000 * Number(process.env.OCS_ORT_CASE_TIMEOUT || 300);
    const counts = { ran: 0, skip: 0, error: 0 };
    let worker = null;
    for (const rel of cases) {
        if (!worker) worker = startWorker();
        const r = await runInWorker(worker, inRoot, outRoot, rel, timeoutMs);
        if (r.died) {
            worker = null;
            const outDir = path.join(outRoot, rel);
            clearCase(outDir);
            writeFile(path.join(outDir, 'ERROR'), `onnxruntime-node ${r.timeout ? 'hung' : 'died'} running this case: ` +
                `${r.died}\n`);
            counts.error++;
        } else {
            counts[r.result]++;
        }
    }
    if (worker) worker.disconnect();
    return counts;
}

function worker() {
    const ort = loadOrt();
    process.on('message', (m) => {
        runCase(ort, m.inRoot, m.outRoot, m.rel).then((result) => process.send({ rel: m.rel, result }));
    });
    process.on('disconnect', () => process.exit(0));
}

async function main(argv) {
    if (argv.length === 1 && argv[0] === '--worker') {
        worker();
        return undefined;
    }
    if (argv.length === 1 && (argv[0] === '-h' || argv[0] === '--help')) {
        usage(process.stdout);
        return 0;
    }
    if (argv.length === 1 && (argv[0] === '--probe' || argv[0] === '--version')) {
        try {
            const v = await probe();
            process.stdout.write(argv[0] === '--version' ? `ocs-ort protocol ${PROTOCOL}, ${v}\n` : `${v}\n`);
            return 0;
        } catch (e) {
            process.stderr.write(`ocs-ort: ${message(e)}\n`);
            return 77;
        }
    }
    if (argv.length !== 2 || argv.some((a) => a.startsWith('-'))) {
        usage(process.stderr);
        return 2;
    }
    const [inRoot, outRoot] = argv;
    if (!isDir(inRoot)) {
        process.stderr.write(`ocs-ort: ${inRoot} is not a folder\n`);
        return 2;
    }
    let version;
    try {
        version = await probe();
    } catch (e) {
        process.stderr.write(`ocs-ort: ${message(e)}\n`);
        return 77;
    }
    fs.mkdirSync(outRoot, { recursive: true });
    writeFile(path.join(outRoot, 'VERSION'), `${version} (CPU execution provider)\n`);
    const counts = await runTree(inRoot, outRoot, findCases(inRoot));
    process.stderr.write(`ocs-ort: ${counts.ran} ran, ${counts.skip} skipped, ${counts.error} errors (${version})\n`);
    return 0;
}

main(process.argv.slice(2)).then((code) => {
    if (code !== undefined) process.exitCode = code;
}, (e) => {
    process.stderr.write(`ocs-ort: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
});
