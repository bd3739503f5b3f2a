/**
 * A training progress bar:
 *
 *   120/5000 [#.............................] loss 2.345 | 12,345 tok/s | ETA 1m23s
 *
 * On a TTY it redraws one line in place (\r); elsewhere (CI logs, files, pipes) carriage returns
 * would pile up into one enormous line, so it prints the same text as an occasional plain line.
 */

/** The part of a stream we use; a fake with `write` is enough in tests. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** Bar width in characters (shrunk to fit a narrow terminal). */
  width?: number;
  /** Non-TTY: at most one line per this many ms (the first and last step always print). */
  plainIntervalMs?: number;
  /** TTY: redraw at most this often; a training loop can step thousands of times a second. */
  ttyIntervalMs?: number;
  /** Clock in ms, injectable for tests. */
  now?: () => number;
}

export interface ProgressStats {
  loss?: number;
  tokensPerSec?: number;
}

const CLEAR_LINE = '\r\x1b[K'; // back to column 0, erase what a longer previous line left

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly width: number;
  private readonly plainIntervalMs: number;
  private readonly ttyIntervalMs: number;
  private readonly now: () => number;
  /** ETA counts from the first update, so a resumed run (starting at step 4000) is not skewed. */
  private start?: { step: number; time: number };
  private lastStep = 0;
  private lastStats: ProgressStats = {};
  private lastDrawn = -Infinity;
  private lastLine = '';
  private finished = false;

  constructor(
    readonly total: number,
    options: ProgressOptions = {},
  ) {
    // stderr by default: stdout stays clean for generated text and for piping.
    const { stream = process.stderr, width = 30, plainIntervalMs = 10_000, ttyIntervalMs = 100 } = options;
    const { now = () => performance.now() } = options;
    this.stream = stream;
    this.tty = stream.isTTY === true;
    this.width = width;
    this.plainIntervalMs = plainIntervalMs;
    this.ttyIntervalMs = ttyIntervalMs;
    this.now = now;
  }

  update(step: number, stats: ProgressStats = {}): void {
    const t = this.now();
    this.start ??= { step, time: t };
    this.lastStep = step;
    this.lastStats = stats;
    const first = this.lastDrawn === -Infinity;
    const last = step >= this.total;
    const interval = this.tty ? this.ttyIntervalMs : this.plainIntervalMs;
    if (!first && !last && t - this.lastDrawn < interval) return;
    this.lastDrawn = t;
    this.draw(this.render(step, stats, t));
  }

  /** Prints a full line (an eval result, a checkpoint notice) above the bar. */
  log(line: string): void {
    if (this.tty && this.lastLine && !this.finished) {
      this.stream.write(`${CLEAR_LINE}${line}\n${this.lastLine}`);
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** Leaves the final state on screen and moves to a fresh line. */
  done(): void {
    if (this.finished) return;
    if (this.start) {
      const final = this.render(this.lastStep, this.lastStats, this.now());
      if (this.tty) this.stream.write(`${CLEAR_LINE}${final}\n`);
      else if (final !== this.lastLine) this.stream.write(`${final}\n`);
    }
    this.finished = true;
  }

  private draw(line: string): void {
    this.stream.write(this.tty ? `${CLEAR_LINE}${line}` : `${line}\n`);
    this.lastLine = line;
  }

  private render(step: number, { loss, tokensPerSec }: ProgressStats, t: number): string {
    const total = this.total;
    const count = `${String(step).padStart(String(total).length)}/${total}`;
    const parts: string[] = [];
    if (loss !== undefined) parts.push(`loss ${loss.toFixed(3)}`);
    if (tokensPerSec !== undefined) parts.push(`${Math.round(tokensPerSec).toLocaleString('en-US')} tok/s`);
    const { step: s0, time: t0 } = this.start!;
    const rate = (step - s0) / (t - t0); // steps per ms
    parts.push(`ETA ${step >= total ? '0s' : rate > 0 ? formatDuration((total - step) / rate / 1000) : '--'}`);
    const tail = parts.join(' | ');

    // Narrow terminal: shrink the bar so the line never wraps (a wrapped line breaks \r redraws).
    const room = this.tty && this.stream.columns ? this.stream.columns - count.length - tail.length - 5 : this.width;
    const width = Math.max(0, Math.min(this.width, room));
    const filled = total > 0 ? Math.round((Math.min(Math.max(step, 0), total) / total) * width) : width;
    const bar = width > 0 ? ` [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]` : '';
    return `${count}${bar} ${tail}`;
  }
}
