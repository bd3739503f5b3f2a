// os.cpus() as the 2 cores taskset gives this process, so gpu.js's worker pool sizes itself like
// on a 2-core machine (availableParallelism, which the wasm GEMM reads, already follows affinity)
const os = require('node:os');
const all = os.cpus();
os.cpus = () => all.slice(0, os.availableParallelism());
