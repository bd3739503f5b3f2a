/**
 * How a call's C is cut into compute tasks: bands of rows of one matrix of the batch, all of N
 * (chunk-loop.ts claims them in this order). A band packs its rows of A once (so at most MC rows)
 * and streams all of packed B past them; the threads claim bands one at a time, and a call ends
 * when its slowest thread's last band does, so the last bands must be short: a thread that finishes early (its core was not shared with another
 * process, or simply the other thread's last band started later) then waits for at most a short
 * band. Measured before this plan (BENCHMARKS.md "wasm GEMM, session 6"): 1024² on 2 threads as
 * 9 bands of 105 rows and one of 79 (5.6 ms a band on a free core, 14–47 ms on a shared one) left
 * a thread idle for up to a band at the end: 2.5% of the call even at equal speeds (525 rows
 * against 499).
 *
 * So one matrix on several threads is cut guided (Polychronopoulos and Kuck's guided
 * self-scheduling, halved): each band is half a thread's share of the rows still left, at most
 * MC rows, at least MIN_BAND_TILES micro-tiles; 1024 rows on 2 threads (3-row tiles): 120 × 5,
 * 108, 81, 60, 45, 33, 27, 24, 24, 22.
 * A batch of matrices keeps equal bands per matrix (about four per thread over the batch): its
 * many tasks already balance, and equal bands let a small B stay in the task's cache (ownB).
 */

/**
 * The shortest band, in micro-tiles: 24 rows of 3 × 12 tiles ran as fast per FLOP as 36 and 48
 * (B streamed from L3 once per band costs nothing visible there; BENCHMARKS.md session 6);
 * shorter ones were not measured.
 */
export const MIN_BAND_TILES = 8;

/**
 * Compute tasks as (matrix, first row, rows) triples in claim order, for `count` matrices of M
 * rows on `threads` threads, with MR-row micro-tiles and bands of at most `mcRows` rows (a
 * multiple of mr). Every band but a matrix's last is a whole number of micro-tiles.
 */
export function planBands(M: number, count: number, threads: number, mr: number, mcRows: number): Int32Array {
  const out: number[] = [];
  const tiles = (rows: number) => Math.ceil(rows / mr) * mr;
  if (count === 1 && threads > 1) {
    // never fewer than about four bands per thread, even for a short matrix
    const minRows = Math.min(MIN_BAND_TILES * mr, tiles(Math.ceil(M / (4 * threads))));
    for (let r0 = 0; r0 < M;) {
      const rows = Math.min(M - r0, Math.max(minRows, Math.min(mcRows, tiles(Math.ceil((M - r0) / (2 * threads))))));
      out.push(0, r0, rows);
      r0 += rows;
    }
    return Int32Array.from(out);
  }
  // equal bands, about four per thread over the batch, each at most mcRows (A packed once); one
  // matrix alone (1 thread) in at least four, so that C copied out overlaps the rest
  const bandsPerMatrix = Math.max(Math.ceil((4 * threads) / count), Math.ceil(M / mcRows));
  const rows = Math.min(M, tiles(Math.ceil(M / bandsPerMatrix)));
  for (let z = 0; z < count; z++) {
    for (let r0 = 0; r0 < M; r0 += rows) out.push(z, r0, Math.min(rows, M - r0));
  }
  return Int32Array.from(out);
}
