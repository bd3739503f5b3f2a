/**
 * Whether this engine runs relaxed SIMD. Node 20's V8 ships it behind
 * `--experimental-wasm-relaxed-simd`; the flag can be set at run time, before a module using it
 * is compiled. A module with one relaxed opcode fails validation as a whole without it, so the
 * GEMM keeps a plain-SIMD module and asks here which one to build.
 */
import v8 from 'node:v8';
import { relaxedProbeBytes } from './kernel-module.js';

let answer: boolean | null = null;

export function relaxedSimdAvailable(): boolean {
  if (answer !== null) return answer;
  const probe = relaxedProbeBytes();
  if (!WebAssembly.validate(probe)) {
    try {
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // an engine without V8's flags: the plain kernel it is
    }
  }
  answer = WebAssembly.validate(probe);
  return answer;
}
