/**
 * One AdamW step as WebAssembly, emitted from TypeScript: the arithmetic of host-ops/adamw.ts
 * (float64, each output rounded once into float32), one parameter an iteration, its (m, v) pair
 * widened into one float64x2 so both moments update in one multiply-add:
 *   (m′, v′) = (β1, β2)·(m, v) + ((1 − β1)·g, ((1 − β2)·g)·g)   (the host loop's order of operations)
 *   p′ = p·(1 − lr·λ) − lr·(m′/c1 / (√(v′/c2) + ε))               (scalar float64, m′ and v′ unrounded)
 * where g is the gradient times the clip's factor s in float32, as the host's fround(g·s) (exact at
 * s = 1), so a clipped step needs no scaling pass and no fallback to the host loop.
 * The JS loop took ~13 ns a parameter here (11 CPU ms of the GPT step's 0.81 M parameters).
 */
import { type Code, I32, V128, add, get, i32, mul, set, uleb, wasmModule } from '../wasm-gemm/wasm-bytes.js';
import { F32, f32Mul, F64, f64Add, f64PromoteF32, f64x2Add, f64x2LoadF32Pair, f64x2Mul, f64x2Splat, f64x2StoreF32Pair, forLoop } from './simd.js';

const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const lane = (v: Code, k: number): Code => [v, simd(0x21), k];
const replaceLane = (v: Code, k: number, x: Code): Code => [v, x, simd(0x22), k];
const f64Const = (x: number): Code => [0x44, ...new Uint8Array(new Float64Array([x]).buffer)];
const loadF32AsF64 = (addr: Code): Code => [addr, 0x2a, 2, 0, 0xbb];
const storeF64AsF32 = (addr: Code, v: Code): Code => [addr, v, 0xb6, 0x38, 2, 0];
const fsub = (a: Code, b: Code): Code => [a, b, 0xa1];
const fmul = (a: Code, b: Code): Code => [a, b, 0xa2];
const fdiv = (a: Code, b: Code): Code => [a, b, 0xa3];
const fsqrt = (a: Code): Code => [a, 0x9f];

/** adamw(p, g, mv, outP, outMV, n, β1, β2, 1 − β1, 1 − β2, lr, 1 − lr·λ, c1, c2, ε, s). */
function adamw() {
  const [P, G, MV, OUTP, OUTMV, N] = [0, 1, 2, 3, 4, 5];
  const [B1, B2, R1, R2, LR, DECAY, C1, C2, EPS, SCALE] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const [I, GI] = [16, 17];
  const [BETAS, RESTS, MOM] = [18, 19, 20];
  const at4 = (base: number) => add(get(base), mul(get(I), i32(4)));
  const at8 = (base: number) => add(get(base), mul(get(I), i32(8)));
  return {
    params: [I32, I32, I32, I32, I32, I32, F64, F64, F64, F64, F64, F64, F64, F64, F64, F32],
    locals: [I32, F64, V128, V128, V128],
    body: [
      set(BETAS, replaceLane(f64x2Splat(get(B1)), 1, get(B2))),
      set(RESTS, replaceLane(f64x2Splat(get(R1)), 1, get(R2))),
      forLoop(I, get(N), i32(1), [
        set(GI, f64PromoteF32(f32Mul([at4(G), 0x2a, 2, 0], get(SCALE)))),
        // (β1·m + (1 − β1)·g·1, β2·v + (1 − β2)·g·g)
        set(MOM, f64x2Add(f64x2Mul(get(BETAS), f64x2LoadF32Pair(at8(MV))), f64x2Mul(f64x2Mul(get(RESTS), f64x2Splat(get(GI))), replaceLane(f64x2Splat(f64Const(1)), 1, get(GI))))),
        f64x2StoreF32Pair(at8(OUTMV), get(MOM)),
        storeF64AsF32(at4(OUTP), fsub(fmul(loadF32AsF64(at4(P)), get(DECAY)),
          fmul(get(LR), fdiv(fdiv(lane(get(MOM), 0), get(C1)), f64Add(fsqrt(fdiv(lane(get(MOM), 1), get(C2))), get(EPS)))))),
      ]),
    ],
  };
}

/** The module: `adamw` as above, over byte addresses of the arena. */
export function adamwModuleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  return wasmModule([{ ...adamw(), exportAs: 'adamw' }], 1, maxPages);
}
