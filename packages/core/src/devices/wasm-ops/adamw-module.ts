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
import { type Code, I32, V128, add, f32Load, get, i32, mul, set, uleb, wasmModule } from '../wasm-gemm/wasm-bytes.js';
import { F32, f32Mul, f32StoreF64, F64, f64Add, f64Const, f64Div, f64LoadF32, f64Mul, f64PromoteF32, f64Sqrt, f64Sub, f64x2Add, f64x2LoadF32Pair, f64x2Mul, f64x2Splat, f64x2StoreF32Pair, forLoop } from './simd.js';

const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const lane = (v: Code, k: number): Code => [v, simd(0x21), k];
const replaceLane = (v: Code, k: number, x: Code): Code => [v, x, simd(0x22), k];

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
        set(GI, f64PromoteF32(f32Mul(f32Load(at4(G)), get(SCALE)))),
        // (β1·m + (1 − β1)·g·1, β2·v + (1 − β2)·g·g)
        set(MOM, f64x2Add(f64x2Mul(get(BETAS), f64x2LoadF32Pair(at8(MV))), f64x2Mul(f64x2Mul(get(RESTS), f64x2Splat(get(GI))), replaceLane(f64x2Splat(f64Const(1)), 1, get(GI))))),
        f64x2StoreF32Pair(at8(OUTMV), get(MOM)),
        f32StoreF64(at4(OUTP), f64Sub(f64Mul(f64LoadF32(at4(P)), get(DECAY)),
          f64Mul(get(LR), f64Div(f64Div(lane(get(MOM), 0), get(C1)), f64Add(f64Sqrt(f64Div(lane(get(MOM), 1), get(C2))), get(EPS)))))),
      ]),
    ],
  };
}

/** The module: `adamw` as above, over byte addresses of the arena. */
export function adamwModuleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  return wasmModule([{ ...adamw(), exportAs: 'adamw' }], 1, maxPages);
}
