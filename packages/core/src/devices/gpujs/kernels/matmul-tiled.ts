/**
 * The webgpu matmul: workgroup tiles staged in shared memory, register blocking, integer index
 * math and vec4 loads, in gpu.js's kernel language with the patched webgpu backend's workgroup
 * features (patches/WORKGROUP-API.md). The schedule is the one tfjs-backend-webgpu's packed matmul
 * and the hand-written WGSL of DESIGN §4 use:
 *
 * - A workgroup of (BN/TN) × (BM/TM) threads owns a BM × BN tile of C; each thread owns TM × TN
 *   of it in registers, as quads of 4 rows by quads of 4 columns spread over the tile
 *   (rows (r·BM/TM + ty)·4 + i), so that at every step of k the threads of a warp read
 *   consecutive 16-byte vectors of the shared tiles (no bank conflicts, one access per 4 floats).
 * - Per step of BK along k, the workgroup copies A's BM × BK block and B's BK × BN block into
 *   workgroup memory (vec4 global loads where the contiguous dim allows), both laid out with k
 *   outermost and 4-vectors along m (resp. n): A's tile is stored transposed. A block that has to
 *   be scattered into that layout (A without transpose, B transposed: their vec4 runs along k)
 *   has rows padded by one vector, which halves the bank conflicts of the scatter.
 * - Two barriers per step: after the copy, and before the next copy overwrites the tiles.
 * - Stores are guarded on the matrix bounds (storeResult also drops anything past the buffer),
 *   never by an early return: barriers must stay in uniform control flow.
 *
 * Everything (shapes, transposes, batch strides, tile) is baked into the source as literals.
 */
import { broadcastStrides } from '../../../shape.js';
import type { Shape } from '../../device.js';
import { batchOffsets, epilogueKey, matmulGeometry, NO_EPILOGUE, type EpilogueFlags } from './matmul.js';
import { coalesce, type KernelSpec } from './spec.js';

/** One tiling: BM × BN outputs a workgroup, BK steps of k per shared tile, TM × TN a thread. */
export interface MatmulTile {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
  /**
   * Steps of k written out per trip of the loop over a shared tile (a power of two dividing BK;
   * 1, the default, is a plain loop, BK straight-line code): each step's shared-memory offsets
   * become literals.
   */
  unroll?: number;
  /**
   * Stage the next k tile in registers: its global loads are issued before the current tile's
   * multiply-adds and stored to shared memory after them, so their latency hides behind the
   * arithmetic of the same workgroup (at the cost of a register per loaded float).
   */
  prefetch?: boolean;
  /**
   * Workgroups walk down M first (workgroup x over row tiles) instead of across N. Consecutive
   * workgroups then share B's column block and re-read A's row blocks, so B streams from memory
   * once; see chooseTile.
   */
  mFirst?: boolean;
  /**
   * A (not transposed, K a multiple of 4) is copied into its shared tile by threads that each load
   * 4 rows' vec4s at one k quad and store them transposed as 4 whole vec4s, instead of 16
   * single-float stores into vec4 slots.
   */
  aQuadTranspose?: boolean;
  /**
   * Split-K: the k tiles are divided among this many workgroups (a power of two that divides the
   * k tile count), each writing its partial product as one [M, N] slice of a [count, splitK, M, N]
   * result that the caller sums over the splits. No epilogue (a bias would be added splitK times).
   */
  splitK?: number;
}

/**
 * The large tile writes 4 k steps a trip (MatmulTile.unroll): on the H200 (BENCHMARKS.md, "Matmul,
 * session 6", run 1, each pair in one process) 4096² went 34.2 → 38.7 TFLOP/s (38.9–39.0 in 9 ×
 * 20 calls), 4096 × 768 × 3072 32.4 → 34.9–36.7, GPT-2's head 35.9 → 38.7–39.8 and its dW 34.7 →
 * 40.6–40.8. The gain needs the shared reads free of bounds checks (Dawn's integer range analysis
 * over gpu.js's lets and bare i32 indices): with main's code generation unroll 4 gave 35.5 at 4096².
 */
export const TILE_LARGE: MatmulTile = { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8, unroll: 4 };
export const TILE_WIDE: MatmulTile = { BM: 128, BN: 64, BK: 16, TM: 8, TN: 4 };
export const TILE_MEDIUM: MatmulTile = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
export const TILE_SMALL: MatmulTile = { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 };

/** Streaming multiprocessors to fill (an H100/H200 has 132). */
export const GPU_SMS = 132;

/**
 * The largest tile that still gives the GPU enough workgroups. Measured on the H200
 * (BENCHMARKS.md, 2026-12-01): the 128 × 128 tile wins from ~2 workgroups an SM on (2048²: 256
 * workgroups, 31.7 TFLOP/s against 27.8 for 128 × 64; 4096 × 768 × 3072: 31.3), loses below
 * (192 workgroups at [4096, 768]·[768, 768]: 22.6 against 26.5 for 128 × 64; 1024²: 11.8
 * against 19.6); the 128 × 64 tile (half the registers) wins there down to ~1 an SM; smaller
 * shapes take 64 × 64, then 32 × 32 tiles, which measured within 5% of each other at 1024².
 */
export function chooseTile(M: number, N: number, count: number, K = 0, epilogue = false): MatmulTile {
  const groups = (t: MatmulTile) => Math.ceil(M / t.BM) * Math.ceil(N / t.BN) * count;
  // a tile mostly past the matrix edge (N = 64 in a 128-wide tile) computes padding
  const fits = (t: MatmulTile) => (M * N * count) / (groups(t) * t.BM * t.BN) >= 0.75;
  const enough = 2 * GPU_SMS - 8;
  // split-K only where the 128 × 64 tile has fewer than 2 workgroups an SM: from there on it beat
  // the large tile split two ways on the H200 (GPT-2's dW of fc, 288 wide tiles: 0.80 ms a call
  // against 0.84; fc's dX, 384: 0.64 against 0.71), and lost below (qkv's
  // dW, 216: 0.59 against 0.53 split four ways; BENCHMARKS.md, session 5); and only for a k longer
  // than the output's sides, as the weight gradients' (1024², split four ways: 0.196 ms a call;
  // the 128 × 64 tile unsplit 0.143 in the same session; BENCHMARKS.md, Round 5)
  const wideFills = fits(TILE_WIDE) && groups(TILE_WIDE) >= 2 * GPU_SMS;
  const longK = K > Math.max(M, N);
  if (!epilogue && longK && fits(TILE_LARGE) && groups(TILE_LARGE) < enough && !wideFills) {
    const splitK = splitFor(groups(TILE_LARGE), K, TILE_LARGE.BK, enough);
    if (splitK > 1) return { ...TILE_LARGE, splitK };
  }
  const tile = groups(TILE_LARGE) >= enough && fits(TILE_LARGE) ? TILE_LARGE :
    groups(TILE_WIDE) >= GPU_SMS - 8 && fits(TILE_WIDE) ? TILE_WIDE :
      groups(TILE_MEDIUM) >= GPU_SMS && fits(TILE_MEDIUM) ? TILE_MEDIUM : TILE_SMALL;
  if (streamsB(M, N, K)) return { ...tile, mFirst: true };
  return tile === TILE_LARGE && quadsPay(M, N, K) ? { ...tile, aQuadTranspose: true } : tile;
}

/**
 * Whether A by transposed quads (MatmulTile.aQuadTranspose) pays: measured on the H200 it gained
 * 2.7–2.9% at 4096² and 1.7% at 2048² (BENCHMARKS.md, sessions 4 and 5), and lost at the GPT's
 * shapes with a long k and 384 or 768 columns (3–24% at k of 1,152 to 3,072), ±3% (noise) at
 * k ≤ 768. A transposed A ignores it.
 */
function quadsPay(M: number, N: number, K: number): boolean {
  return K >= 2048 && M * N >= 2048 * 2048;
}

/** Fewest k per split: below it the partials' extra reads and writes outweigh the filled grid. */
export const MIN_SPLIT_K = 256;

/**
 * The fewest splits (a power of two, dividing the k tiles) that bring `groups` workgroups up to
 * `enough`, keeping at least MIN_SPLIT_K of k each; 1 when none does. The weight gradients of a
 * GPT (M, N the layer's width, K every token of the batch) have few output tiles and a long k:
 * `small` at B64 has 36 tiles of 128 × 128 for [384, 16384]·[16384, 1536], 1.3 ms at 15 TFLOP/s
 * on the H200 with 64 × 64 tiles (BENCHMARKS.md, session 5).
 */
function splitFor(groups: number, K: number, BK: number, enough: number): number {
  const kTiles = Math.ceil(K / BK);
  for (let s = 2; s * MIN_SPLIT_K <= K; s *= 2) {
    if (kTiles % s !== 0) return 1;
    if (groups * s >= enough) return s;
  }
  return 1;
}

/** L2 cache of the GPUs we tune for (H100: 50 MB, H200: 50 MB). */
const L2_BYTES = 50 * 2 ** 20;

/**
 * Whether the grid should walk M first: B far larger than the L2 and larger than A. Walking N
 * first re-reads all of B for every row of tiles, from memory once it no longer fits in the L2:
 * GPT-2's head (B = wte, 50257 × 768, 154 MB) ran at 14 TFLOP/s that way on the H200
 * (BENCHMARKS.md, session 4) against 30+ for its gradients, whose large operand is walked once.
 */
function streamsB(M: number, N: number, K: number): boolean {
  return N > M && K * N * 4 > 2 * L2_BYTES;
}

/** The tile as a key: every setting that changes the kernel's source (the device caches kernels by it). */
export function tileKey(t: MatmulTile): string {
  const S = t.splitK ?? 1;
  return `${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}${(t.unroll ?? 1) > 1 ? `u${t.unroll}` : ''}${t.prefetch ? 'p' : ''}` +
    `${t.mFirst ? 'm' : ''}${t.aQuadTranspose ? 't' : ''}${S > 1 ? `k${S}` : ''}`;
}

const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

function checkTile(t: MatmulTile, K: number, epilogue: EpilogueFlags): void {
  const { BM, BN, BK, TM, TN } = t;
  const S = t.splitK ?? 1;
  if (S !== 1 && !(isPow2(S) && Math.ceil(K / BK) % S === 0 && !epilogue.bias && !epilogue.residual)) {
    throw new Error(`gpujs matmul: splitK ${S} must be a power of two dividing the ${Math.ceil(K / BK)} k tiles, without an epilogue`);
  }
  const threads = (BM / TM) * (BN / TN);
  const ok = [BM, BN, BK, TM, TN].every(isPow2) && TM % 4 === 0 && TN % 4 === 0 && BK % 4 === 0 &&
    BM >= TM && BN >= TN && (BM * BK / 4) % threads === 0 && (BN * BK / 4) % threads === 0;
  if (!ok) throw new Error(`gpujs matmul: tile ${JSON.stringify(t)} is not a valid tiling (powers of two, quads that divide among the threads)`);
  const U = t.unroll ?? 1;
  if (!(isPow2(U) && U <= BK)) throw new Error(`gpujs matmul: unroll ${U} must be a power of two dividing BK ${BK}`);
}

/**
 * The tiled product for webgpu: C[z] = op(A[z]) · op(B[z]) (+ bias[col]) (+ res), batched over
 * `batch` with broadcasting, every transpose.
 */
export function matmulTiledSpec(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, batch: Shape,
  epilogue: EpilogueFlags = NO_EPILOGUE, tile?: MatmulTile): KernelSpec {
  const { M, K, N, count } = matmulGeometry(aShape, bShape, transA, transB, batch);
  if (K === 0) throw new Error('gpujs matmul: the tiled kernel needs K ≥ 1');
  const t = tile ?? chooseTile(M, N, count, K, epilogue.bias || epilogue.residual);
  checkTile(t, K, epilogue);
  const S = t.splitK ?? 1;
  const { BM, BN, BK, TM, TN } = t;
  const TC = BN / TN; // threads along x (columns)
  const TR = BM / TM; // threads along y (rows)
  const T = TC * TR;
  const RA = TM / 4; // row quads a thread
  const RB = TN / 4; // column quads a thread

  // A's contiguous dim is k (no transpose) or m; B's is n (no transpose) or k. A vec4 global load
  // needs that dim (hence every row start and batch offset) to be a multiple of 4.
  const aAlongK = !transA;
  const bAlongK = transB;
  const aVec = (aAlongK ? K : M) % 4 === 0;
  const bVec = (bAlongK ? K : N) % 4 === 0;
  // shared tiles: k outermost, 4-vectors along m (A) and n (B); padded by one vector when scattered
  const LDA = BM / 4 + (aAlongK ? 1 : 0);
  const LDB = BN / 4 + (bAlongK ? 1 : 0);

  // batch offsets of A and B (elements, or vec4s for a vec4 operand), as expressions of the workgroup z
  const sa = broadcastStrides(aShape.slice(0, -2), batch).map((s) => s * M * K);
  const sb = broadcastStrides(bShape.slice(0, -2), batch).map((s) => s * K * N);
  const { dims, strides } = coalesce(batch, [sa, sb]);
  // with split-K, workgroup z is batch · S + split
  const z = S > 1 ? 'zb' : 'this.workgroup.z';
  const [offA, offB] = batchOffsets(dims, [strides[0].map((s) => (aVec ? s / 4 : s)), strides[1].map((s) => (bVec ? s / 4 : s))], z);

  const kEdge = K % BK !== 0;
  const mEdge = M % BM !== 0;
  const nEdge = N % BN !== 0;
  const KT = Math.ceil(K / BK);
  const KTs = KT / S; // k tiles a split

  /**
   * One operand's copy of its block for a k tile into its shared tile, as pieces a loop can place
   * apart (MatmulTile.prefetch): `setup` declares the thread's indices (the same every k tile),
   * each register holds one global load of the tile numbered by the expression `kt` given to
   * `load`, and `store` writes the registers into the shared tile. `guard`, where present, is the
   * condition under which a thread has a part of the copy at all.
   */
  interface Copy { setup: string; regs: { name: string; zero: string; load: (kt: string) => string }[]; store: string; guard?: string }
  const VEC0 = '[0.0, 0.0, 0.0, 0.0]';

  /** A's block as 4 × 4 groups (4 rows, one k quad) transposed in registers: see MatmulTile.aQuadTranspose. */
  const copyATransposed = (off: string): Copy[] => {
    const perRow = BK / 4;
    const groups = (BM / 4) * perRow;
    const copies: Copy[] = [];
    for (let i = 0; i < Math.ceil(groups / T); i++) {
      const g = `(tid + ${i * T})`;
      const o4 = `Ag${i}`;
      const kq = `Ak${i}`;
      const regs = [0, 1, 2, 3].map((j) => {
        const o = `${o4} * 4 + ${j}`;
        const row = mEdge ? `Math.min(m0 + ${o}, ${M - 1})` : `m0 + ${o}`;
        const load = (kt: string) => {
          const read = `a[${off} + (${row}) * ${K / 4} + ${kt} * ${BK / 4} + ${kq}]`;
          return kEdge ? `${kt} * ${BK} + ${kq} * 4 < ${K} ? ${read} : ${VEC0}` : read;
        };
        return { name: `Av${i}${j}`, zero: VEC0, load };
      });
      let store = '';
      for (let c = 0; c < 4; c++) store += `As[(${kq} * 4 + ${c}) * ${LDA} + ${o4}] = [Av${i}0[${c}], Av${i}1[${c}], Av${i}2[${c}], Av${i}3[${c}]]; `;
      // fewer groups than threads: the rest skip (no barrier in here)
      copies.push({
        setup: `const ${o4} = ${g} >> ${Math.log2(perRow)}; const ${kq} = ${g} & ${perRow - 1}; `, regs, store,
        ...((i + 1) * T > groups ? { guard: `${g} < ${groups}` } : {}),
      });
    }
    return copies;
  };

  /**
   * An operand's block of `outer` × BK (outer: BM or BN, the extent along its non-k dim, whose
   * full size is D and tile origin o0) into shared tile S of row length LD; `alongK`: memory is
   * contiguous along k; `vec`: read as vec4s; `edge`: the tile may pass D.
   */
  const copyBlock = (arg: string, S: string, LD: number, outer: number, D: number, o0: string, alongK: boolean,
    vec: boolean, off: string, edge: boolean): Copy[] => {
    if (S === 'As' && alongK && vec && t.aQuadTranspose) return copyATransposed(off);
    const quads = (outer * BK) / 4;
    const copies: Copy[] = [];
    for (let i = 0; i < quads / T; i++) {
      const q = `(tid + ${i * T})`;
      const regs: Copy['regs'] = [];
      let setup = '';
      let store = '';
      if (alongK) {
        // quad q: 4 consecutive k of one row o; rows of BK/4 quads
        const perRow = BK / 4;
        const o = `${S}o${i}`;
        const kq = `${S}k${i}`;
        setup = `const ${o} = ${q} >> ${Math.log2(perRow)}; const ${kq} = ${q} & ${perRow - 1}; `;
        // rows past D only feed outputs that are never stored: clamp them to stay in the buffer
        const row = edge ? `Math.min(${o0} + ${o}, ${D - 1})` : `${o0} + ${o}`;
        const k = (kt: string) => `${kt} * ${BK} + ${kq} * 4`;
        const v = `${S}v${i}`;
        if (vec) {
          regs.push({
            name: v, zero: VEC0, load: (kt) => {
              const read = `${arg}[${off} + (${row}) * ${K / 4} + ${kt} * ${BK / 4} + ${kq}]`;
              return kEdge ? `${k(kt)} < ${K} ? ${read} : ${VEC0}` : read;
            },
          });
          for (let c = 0; c < 4; c++) store += `${S}[(${kq} * 4 + ${c}) * ${LD} + (${o} >> 2)][${o} & 3] = ${v}[${c}]; `;
        } else {
          for (let c = 0; c < 4; c++) {
            // K % 4 ≠ 0 implies K % BK ≠ 0: the tail is guarded element by element
            regs.push({
              name: `${v}${c}`, zero: '0.0', load: (kt) => {
                const read = `${arg}[${off} + (${row}) * ${K} + ${k(kt)} + ${c}]`;
                return kEdge ? `${k(kt)} + ${c} < ${K} ? ${read} : 0.0` : read;
              },
            });
            store += `${S}[(${kq} * 4 + ${c}) * ${LD} + (${o} >> 2)][${o} & 3] = ${v}${c}; `;
          }
        }
      } else {
        // quad q: 4 consecutive rows o of one k; k rows of outer/4 quads
        const perK = outer / 4;
        const kk = `${S}k${i}`;
        const oq = `${S}o${i}`;
        setup = `const ${kk} = ${q} >> ${Math.log2(perK)}; const ${oq} = ${q} & ${perK - 1}; `;
        const k = (kt: string) => `${kt} * ${BK} + ${kk}`;
        // a k row past K reads a clamped row and is zeroed; rows past D are never stored
        const kRow = (kt: string) => (kEdge ? `Math.min(${k(kt)}, ${K - 1})` : k(kt));
        const v = `${S}v${i}`;
        if (vec) {
          const quad = edge ? `Math.min((${o0} >> 2) + ${oq}, ${D / 4 - 1})` : `(${o0} >> 2) + ${oq}`;
          regs.push({
            name: v, zero: VEC0, load: (kt) => {
              const read = `${arg}[${off} + (${kRow(kt)}) * ${D / 4} + ${quad}]`;
              return kEdge ? `${k(kt)} < ${K} ? ${read} : ${VEC0}` : read;
            },
          });
          store = `${S}[${kk} * ${LD} + ${oq}] = ${v}; `;
        } else {
          for (let c = 0; c < 4; c++) {
            const col = edge ? `Math.min(${o0} + ${oq} * 4 + ${c}, ${D - 1})` : `${o0} + ${oq} * 4 + ${c}`;
            regs.push({
              name: `${v}${c}`, zero: '0.0', load: (kt) => {
                const read = `${arg}[${off} + (${kRow(kt)}) * ${D} + ${col}]`;
                return kEdge ? `${k(kt)} < ${K} ? ${read} : 0.0` : read;
              },
            });
            store += `${S}[${kk} * ${LD} + ${oq}][${c}] = ${v}${c}; `;
          }
        }
      }
      copies.push({ setup, regs, store });
    }
    return copies;
  };

  const copies = [
    ...copyBlock('a', 'As', LDA, BM, M, 'm0', aAlongK, aVec, offA, mEdge),
    ...copyBlock('b', 'Bs', LDB, BN, N, 'n0', bAlongK, bVec, offB, nEdge),
  ];
  const guarded = (c: Copy, code: string) => (c.guard ? `if (${c.guard}) { ${code}} ` : code);
  const setup = copies.map((c) => c.setup).join('');
  /** Loads of k tile `kt` into fresh consts, then their stores: the copy without prefetch. */
  const copyNow = (kt: string) => copies.map((c) => guarded(c, c.regs.map((r) => `const ${r.name} = ${r.load(kt)}; `).join('') + c.store)).join('');
  /** With prefetch: the registers, declared once; loads of k tile `kt` into them; their stores. */
  const declareRegs = copies.map((c) => c.regs.map((r) => `let ${r.name} = ${r.zero}; `).join('')).join('');
  const loadRegs = (kt: string) => copies.map((c) => guarded(c, c.regs.map((r) => `${r.name} = ${r.load(kt)}; `).join(''))).join('');
  const storeRegs = copies.map((c) => guarded(c, c.store)).join('');

  const acc = (r: number, i: number, s: number, j: number) => `c${r}${i}${s}${j}`;
  const accs: string[] = [];
  for (let r = 0; r < RA; r++) for (let i = 0; i < 4; i++) for (let s = 0; s < RB; s++) for (let j = 0; j < 4; j++) accs.push(acc(r, i, s, j));

  /** One step of k over the shared tiles at `kk` (an expression of the loop counter, or a literal). */
  const stepAt = (kk: string, u: string) => {
    let step = '';
    for (let r = 0; r < RA; r++) step += `const a${r}${u} = As[(${kk}) * ${LDA} + ${r * TR} + ty]; `;
    for (let s = 0; s < RB; s++) step += `const b${s}${u} = Bs[(${kk}) * ${LDB} + ${s * TC} + tx]; `;
    for (let r = 0; r < RA; r++) {
      for (let i = 0; i < 4; i++) for (let s = 0; s < RB; s++) for (let j = 0; j < 4; j++) step += `${acc(r, i, s, j)} += a${r}${u}[${i}] * b${s}${u}[${j}]; `;
    }
    return step;
  };
  const U = t.unroll ?? 1;
  const steps = U === BK ? Array.from({ length: BK }, (_, kk) => stepAt(String(kk), `_${kk}`)).join('') :
    `for (let kk = 0; kk < ${BK / U}; kk++) { ${Array.from({ length: U }, (_, u) => stepAt(U === 1 ? 'kk' : `kk * ${U} + ${u}`, `_${u}`)).join('')}} `;

  let store = '';
  const offC = count * S > 1 ? `this.workgroup.z * ${M * N} + ` : '';
  for (let r = 0; r < RA; r++) {
    for (let i = 0; i < 4; i++) {
      const row = `m0 + ${(r * TR) * 4} + ty * 4 + ${i}`;
      store += `const row${r}${i} = ${row}; `;
      for (let s = 0; s < RB; s++) {
        for (let j = 0; j < 4; j++) {
          const col = `n0 + ${(s * TC) * 4} + tx * 4 + ${j}`;
          const flat = `${offC}row${r}${i} * ${N} + ${col}`;
          const value = `${acc(r, i, s, j)}${epilogue.bias ? ` + bias[${col}]` : ''}${epilogue.residual ? ` + res[${flat}]` : ''}`;
          const guard = [mEdge ? `row${r}${i} < ${M}` : '', nEdge ? `${col} < ${N}` : ''].filter(Boolean).join(' && ');
          store += guard ? `if (${guard}) { storeResult(${flat}, ${value}); } ` : `storeResult(${flat}, ${value}); `;
        }
      }
    }
  }

  const source = `function (a, b${epilogue.bias ? ', bias' : ''}${epilogue.residual ? ', res' : ''}) { ` +
    'const tx = this.localThread.x; const ty = this.localThread.y; ' +
    `const tid = ty * ${TC} + tx; ` +
    (t.mFirst ? `const m0 = this.workgroup.x * ${BM}; const n0 = this.workgroup.y * ${BN}; ` :
      `const m0 = this.workgroup.y * ${BM}; const n0 = this.workgroup.x * ${BN}; `) +
    accs.map((c) => `let ${c} = 0.0;`).join(' ') + ' ' +
    // with split-K, workgroup z is batch · S + split, and the split an offset k0 along the k tiles
    (S > 1 ? `const zb = this.workgroup.z >> ${Math.log2(S)}; const k0 = (this.workgroup.z & ${S - 1}) * ${KTs}; ` : '') +
    setup +
    (t.prefetch ? declareRegs + loadRegs(S > 1 ? 'k0' : '0') : '') +
    // the trip count stays a literal (barriers need uniform control flow)
    (S > 1 ? `for (let it = 0; it < ${KTs}; it++) { const kt = k0 + it; ` : `for (let kt = 0; kt < ${KT}; kt++) { `) +
    (t.prefetch ?
      // the last trip loads its own tile again: no branch, and the loads stay in the buffer
      `${storeRegs}workgroupBarrier(); const ktn = ${S > 1 ? `k0 + Math.min(it + 1, ${KTs - 1})` : `Math.min(kt + 1, ${KT - 1})`}; ${loadRegs('ktn')}` :
      `${copyNow('kt')}workgroupBarrier(); `) +
    steps +
    'workgroupBarrier(); } ' +
    store + '}';

  const vec4Arguments = [aVec ? 'a' : '', bVec ? 'b' : ''].filter(Boolean);
  return {
    key: `matmul.tiled:${aShape.join(',')}:${bShape.join(',')}:${transA ? 1 : 0}${transB ? 1 : 0}:${batch.join(',')}:` +
      `${epilogueKey(epilogue)}:${tileKey(t)}`,
    source,
    output: [count * S * M * N],
    outSize: count * S * M * N,
    work: 2 * count * M * N * K,
    workgroupSize: [TC, TR],
    dispatch: t.mFirst ? [Math.ceil(M / BM), Math.ceil(N / BN), count * S] : [Math.ceil(N / BN), Math.ceil(M / BM), count * S],
    workgroupArrays: { As: { type: 'vec4', length: BK * LDA }, Bs: { type: 'vec4', length: BK * LDB } },
    ...(vec4Arguments.length ? { vec4Arguments } : {}),
  };
}
