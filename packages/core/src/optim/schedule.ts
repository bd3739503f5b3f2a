/** Learning-rate schedules: functions from step (0-based) to learning rate. */

/** Linear warmup from 0 to maxLr over `warmup` steps, then cosine decay to minLr at `total`. */
export function cosineWithWarmup(options: { maxLr: number; minLr?: number; warmup: number; total: number }): (step: number) => number {
  const { maxLr, warmup, total } = options;
  const minLr = options.minLr ?? maxLr / 10;
  if (!(warmup >= 0 && total > 0)) throw new Error(`cosineWithWarmup: need warmup ≥ 0 and total > 0, got ${warmup}, ${total}`);
  return (step) => {
    if (step < warmup) return (maxLr * (step + 1)) / warmup;
    if (step >= total) return minLr;
    const progress = (step - warmup) / Math.max(1, total - warmup);
    return minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (maxLr - minLr);
  };
}
