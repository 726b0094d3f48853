#!/usr/bin/env node
/*
 * conformance/ort/ort-load.js - asks ONNX Runtime (onnxruntime-node, CPU
 * provider) whether it loads each model file given, without running it.
 *
 *   node ort-load.js MODEL...
 *
 * prints one line per file, "OK <file>" or "ERROR <file>: <ORT's message on
 * one line>", after a first line "ORT <version>".  Exit status 0 when every
 * file was tried, 3 when onnxruntime-node cannot be loaded (found as
 * require() finds it: NODE_PATH, or a node_modules folder above this file).
 */
'use strict';

let ort;
try {
    ort = require('onnxruntime-node');
} catch (e) {
    console.log('ERROR onnxruntime-node: ' + String(e.message).split('\n')[0]);
    process.exit(3);
}

async function main() {
    let version = 'unknown';
    try { version = require('onnxruntime-node/package.json').version; } catch (e) { /* keep unknown */ }
    console.log('ORT ' + version);
    for (const file of process.argv.slice(2)) {
        try {
            const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
            if (s.release) await s.release();
            console.log('OK ' + file);
        } catch (e) {
            console.log('ERROR ' + file + ': ' + String(e.message || e).replace(/\s+/g, ' ').slice(0, 400));
        }
    }
}

main().then(() => process.exit(0), (e) => { console.log('ERROR ' + e); process.exit(3); });
