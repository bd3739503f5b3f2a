// The block-sparse pattern the attention benches share: an [N/64]² grid of 64 × 64 blocks with
// `fraction` of its cells hidden (a fixed pseudo-random pattern), the diagonal kept.
export function sparseGrid(N, fraction) {
  const M = Math.ceil(N / 64);
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const grid = Array.from({ length: M }, (_, a) => Array.from({ length: M }, (_, b) => a === b || rand() >= fraction));
  const hidden = grid.flat().filter((x) => !x).length / (M * M);
  return { grid, hidden };
}
