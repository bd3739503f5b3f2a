// The ratio table of examples/peers/run.sh: flashgrad's figures over tfjs's, from the JSON both
// wrote into bench-results/ in the same run. A ratio below 1 means flashgrad is faster.
//   node examples/peers/ratios.js wasm
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const mode = process.argv[2] ?? 'wasm';
const dir = join(dirname(fileURLToPath(import.meta.url)), '../../bench-results');
const load = (name) => {
  try {
    return JSON.parse(readFileSync(join(dir, name), 'utf8'));
  } catch {
    return null;
  }
};
const tfjs = load(`peers-tfjs-${mode}.json`);
const step = load(`step-${mode}-peers.json`);
const kernels = load(`peers-kernels-${mode}.json`);
if (!tfjs) throw new Error(`no bench-results/peers-tfjs-${mode}.json: run examples/peers/run.sh ${mode} first`);

const rows = [];
const gpt = tfjs.results.gpt;
if (gpt && step) rows.push({ work: 'GPT step 4L/4H/128, T=64, B=12', tfjs: gpt.ms_per_step, flashgrad: step.msPerStep });
for (const [n, r] of Object.entries(tfjs.results.matmul ?? {})) {
  const ours = kernels?.rows.find((k) => k.name === `matmul ${n}²`);
  if (r.ms !== undefined && ours && !ours.skipped) rows.push({ work: `matmul ${n}²`, tfjs: r.ms, flashgrad: ours.median });
}
const f = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));
console.log(`\n${mode}: flashgrad vs tfjs ${tfjs.info.tfjs_version} (${tfjs.info.active_backend}), same machine, medians in ms`);
console.log('work | tfjs | flashgrad | flashgrad / tfjs');
for (const r of rows) console.log(`${r.work} | ${f(r.tfjs)} | ${f(r.flashgrad)} | ${(r.flashgrad / r.tfjs).toFixed(2)}`);
writeFileSync(join(dir, `peers-ratio-${mode}.json`), `${JSON.stringify({ mode, tfjs: tfjs.info, rows }, null, 2)}\n`);
