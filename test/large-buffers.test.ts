/**
 * Tensors past 2^24 elements on the wasm and cpu devices, through the public API: the limit that
 * float32 index arithmetic used to impose is gone there (wasm keeps indices in i32 with our gpu.js
 * patch; cpu indexes in float64). Every value is an integer below 2^24 that depends on its index,
 * so float32 holds it exactly and every result is checked exactly, element by element: a wrong
 * index is a wrong value.
 *
 * The table is [ROWS, COLS] = [16385, 1024]: 16,778,240 elements, its last row past 2^24.
 */
import { describe, expect, it } from 'vitest';
import { gather, getDevice, matmulT, optim, setDevice, sum, tensor, tidy, zeros } from '@flashgrad/core';

const ROWS = 16385;
const COLS = 1024;
const N = ROWS * COLS;
const value = (r: number, c: number) => (r * 7 + c * 3) % 509;

const table = new Float32Array(N);
for (let r = 0; r < ROWS; r++) for (let c = 0; c < COLS; c++) table[r * COLS + c] = value(r, c);

/** The first index where `got` differs from `want(i)`, or -1: one message instead of 16M. */
function firstMismatch(got: Float32Array, want: (i: number) => number): number {
  for (let i = 0; i < got.length; i++) if (got[i] !== want(i)) return i;
  return -1;
}

/** Rows past 2^24 through gather and its gradient: ids times the row width are i32 (rowIndex). */
async function gatherPastLimit(): Promise<void> {
  const picks = [16384, 3, 16383, 0, 16384];
  const t = tensor(table, { shape: [ROWS, COLS], requiresGrad: true });
  const rows = gather(t, picks);
  const got = await rows.data();
  expect(firstMismatch(got, (i) => value(picks[Math.floor(i / COLS)], i % COLS))).toBe(-1);
  // d/dt Σ rows ∘ w with w[k, c] = k + 1: row 16384 picked twice gets 1 + 5
  const w = Float32Array.from({ length: picks.length * COLS }, (_, i) => Math.floor(i / COLS) + 1);
  rows.mul(tensor(w, { shape: [picks.length, COLS] })).sum().backward();
  const grad = await t.grad!.data();
  const weightOf = new Map<number, number>();
  picks.forEach((r, k) => weightOf.set(r, (weightOf.get(r) ?? 0) + k + 1));
  expect(firstMismatch(grad, (i) => weightOf.get(Math.floor(i / COLS)) ?? 0)).toBe(-1);
  t.dispose();
  rows.dispose();
}

/** AdamW on 2^23 + 1000 parameters: its packed moments (2^24 + 2000 floats) keep m and v apart. */
async function adamwPastLimit(): Promise<void> {
  const n = 2 ** 23 + 1000;
  const p = zeros([n], { requiresGrad: true });
  // a constant gradient g_i = ±(1 + i mod 5): bias-corrected m̂ = g and v̂ = g² at every step, so
  // each step moves p by −lr·g/(|g| + ε) = −lr·sign(g). The second step reads the moments the
  // first one wrote (the packed moments kernel); the first only reads zeros
  const g = tensor(Float32Array.from({ length: n }, (_, i) => (1 + (i % 5)) * (i % 2 ? 1 : -1)));
  const lr = 0.01;
  const opt = new optim.AdamW([p], { lr, weightDecay: 0 });
  for (let step = 0; step < 2; step++) {
    opt.zeroGrad();
    const loss = p.mul(g).sum();
    loss.backward();
    loss.dispose();
    opt.step();
  }
  const got = await p.data();
  // a moment read from the other's slot makes v negative somewhere: NaN, or a wrong step size
  const want = (i: number) => -2 * lr * (i % 2 ? 1 : -1);
  expect(firstMismatch(got, (i) => (Math.abs(got[i] - want(i)) <= 2e-6 ? got[i] : want(i)))).toBe(-1);
  g.dispose();
  p.dispose();
}

describe.each(['wasm', 'cpu'] as const)('%s: tensors past 2^24 elements', (mode) => {
  it('allows them (the device limit is its memory, not 2^24)', async () => {
    await setDevice(mode);
    expect(N).toBeGreaterThan(2 ** 24);
    expect(getDevice().maxElements).toBeGreaterThanOrEqual(2 ** 30 - 2 ** 18 - 4);
  });

  it('elementwise: a broadcast add reads and writes every element at its own index', async () => {
    await setDevice(mode);
    const bias = Float32Array.from({ length: COLS }, (_, c) => c * 2);
    const got = await tidy(() => tensor(table, { shape: [ROWS, COLS] }).add(tensor(bias))).data();
    expect(got.length).toBe(N);
    expect(firstMismatch(got, (i) => table[i] + 2 * (i % COLS))).toBe(-1);
  });

  it('reductions: row sums and column sums (strided reads past 2^24)', async () => {
    await setDevice(mode);
    const x = tensor(table, { shape: [ROWS, COLS] });
    const [rs, cs] = [sum(x, 1), sum(x, 0)];
    const [rowSums, colSums] = [await rs.data(), await cs.data()];
    for (const t of [x, rs, cs]) t.dispose();
    const wantRow = (r: number) => { let s = 0; for (let c = 0; c < COLS; c++) s += value(r, c); return s; };
    const wantCol = (c: number) => { let s = 0; for (let r = 0; r < ROWS; r++) s += value(r, c); return s; };
    expect(firstMismatch(rowSums, wantRow)).toBe(-1);
    expect(firstMismatch(colSums, wantCol)).toBe(-1);
  });

  it('gather picks rows past 2^24, and its gradient scatters them back there', async () => {
    await setDevice(mode);
    await gatherPastLimit();
  });

  it('matmul against a [16385, 1024] operand, transposed (as a tied LM head reads wte)', async () => {
    await setDevice(mode);
    const M = 2;
    const a = Float32Array.from({ length: M * COLS }, (_, i) => (i % 5) - 2);
    const got = await tidy(() => matmulT(tensor(a, { shape: [M, COLS] }), tensor(table, { shape: [ROWS, COLS] }), false, true)).data();
    const want = (i: number) => {
      const m = Math.floor(i / ROWS);
      const n = i % ROWS;
      let s = 0;
      for (let k = 0; k < COLS; k++) s += a[m * COLS + k] * value(n, k);
      return s;
    };
    expect(got.length).toBe(M * ROWS);
    expect(firstMismatch(got, want)).toBe(-1);
  });

  it('AdamW on 2^23 + 1000 parameters: its packed moments (past 2^24 floats) keep m and v apart', async () => {
    await setDevice(mode);
    await adamwPastLimit();
  });
});

// webgpu's bindings hold 2^25 floats even on llvmpipe: the table fits, and a float32 product
// id · 1024 + c would round odd columns of row 16384 (past 2^24 the float spacing is 2)
describe('webgpu: tensors past 2^24 elements', () => {
  it('gather picks rows past 2^24, and its gradient scatters them back there', async () => {
    await setDevice('webgpu');
    await gatherPastLimit();
  });

  it('AdamW on 2^23 + 1000 parameters: its packed moments (past 2^24 floats) keep m and v apart', async () => {
    await setDevice('webgpu');
    await adamwPastLimit();
  });
});
