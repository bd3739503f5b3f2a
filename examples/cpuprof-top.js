// Self time of a Node CPU profile's main thread by function (and file), in ms per step: where the
// host's part of a webgpu step goes (gpu.js's per-call JavaScript, flashgrad's graph, GC).
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof examples/bench-step.js webgpu --shape small --batch 64 --steps 10 --warmup 2
//   node examples/cpuprof-top.js /tmp/prof 12 [rows]     # the directory, the steps it ran (warm-up included)
import { readFileSync, readdirSync } from 'node:fs';
const [dir, stepsArg, rowsArg] = process.argv.slice(2);
const steps = Number(stepsArg);
const rows = Number(rowsArg ?? 45);
const file = readdirSync(dir).sort()[0];
const p = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
const byFile = new Map();
let total = 0;
for (let i = 0; i < p.samples.length; i++) {
  const cf = byId.get(p.samples[i]).callFrame;
  const dt = p.timeDeltas[i] / 1000;
  total += dt;
  const where = cf.url.replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '').replace(/^.*\/packages\//, '');
  const key = `${cf.functionName || '(anonymous)'} ${where}:${cf.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  const f = where.split('/').slice(0, 3).join('/') || cf.functionName;
  byFile.set(f, (byFile.get(f) ?? 0) + dt);
}
const per = (ms) => (ms / steps).toFixed(2);
console.log(`main thread: ${per(total)} ms a step over ${steps} steps (${file})`);
console.log('\nby file (ms/step):');
for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${per(v)}  ${k}`);
console.log('\nby function, self time (ms/step):');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${per(v)}  ${k}`);
