// Anomaly mode: the first op whose output (forward) or gradient (backward) is NaN or ±Infinity is
// named, with its shapes and the line that created it; off by default, and nothing queued then.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnomalyError, checkAnomalies, detectAnomaly, isAnomalyEnabled, memory, setDevice, tensor } from '@flashgrad/core';
import { loadText, trainMain, type CliIO } from '@flashgrad/models';

let dir: string;
beforeAll(async () => {
  await setDevice('reference');
  dir = await mkdtemp(join(tmpdir(), 'flashgrad-anomaly-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function anomalyOf(fn: () => Promise<unknown>): Promise<AnomalyError> {
  try {
    await detectAnomaly(fn);
  } catch (e) {
    if (e instanceof AnomalyError) return e;
    throw e;
  }
  throw new Error('expected an AnomalyError, got none');
}

describe('detectAnomaly', () => {
  it('names log(-1) in a graph: the op, its shapes and the line that made it', async () => {
    const e = await anomalyOf(async () => {
      const a = tensor([3, 2], { requiresGrad: true });
      const b = a.sub(4).mul(2); // [-2, -4]: finite
      const c = b.log(); // NaN here
      const d = c.exp().add(1).sum(); // NaN propagates: not the source
      await d.item();
    });
    expect(e.phase).toBe('forward');
    expect(e.op).toBe('log');
    expect(e.message).toMatch(/^anomaly in the forward: log produced NaN at element 0 \(2 NaN of 2\) in its output \[2\], from finite inputs \(inputs \[2\]; output \[2\]\); created at .*anomaly\.test\.ts:\d+:\d+/);
    expect(e.createdAt).toMatch(/anomaly\.test\.ts:3\d:/); // the line of b.log() above
  });

  it("names sqrt as the source of sqrt(0)·0's NaN gradient, with the forward's line", async () => {
    const x = tensor([0, 4], { requiresGrad: true });
    const e = await anomalyOf(async () => {
      const y = x.sqrt().mul(0).sum(); // forward: 0, finite
      y.backward();
    });
    expect(e.phase).toBe('backward');
    expect(e.op).toBe('sqrt');
    expect(e.message).toMatch(/^anomaly in the backward: the gradient rule of sqrt returned NaN at element 0 \(1 NaN of 2\) in its gradient for input 0 \[2\], from a finite output gradient \(inputs \[2\]; output \[2\]\); the forward sqrt was created at .*anomaly\.test\.ts:\d+/);
  });

  it('names a non-finite input that came from outside the graph', async () => {
    const w = tensor([1, Infinity]);
    const e = await anomalyOf(async () => {
      await w.mul(2).sum().item();
    });
    expect(e.phase).toBe('input');
    expect(e.message).toMatch(/mul was given Infinity at element 1 \(1 infinite of 2\) in its input 0 \[2\], a tensor made outside the graph/);
  });

  it('is off by default: NaN passes silently, nothing is queued, no buffer is held', async () => {
    expect(isAnomalyEnabled()).toBe(false);
    const before = memory().buffers;
    const x = tensor([-1]);
    const y = x.log();
    expect(Number.isNaN(await y.item())).toBe(true);
    x.dispose();
    y.dispose();
    await checkAnomalies(); // nothing to check
    expect(memory().buffers).toBe(before);
  });

  it('checks at every read inside the scope, and lets finite work through', async () => {
    const result = await detectAnomaly(async () => {
      const x = tensor([1, 2, 3], { requiresGrad: true });
      const y = x.mul(x).sum();
      y.backward();
      return [await y.item(), Array.from(await x.grad!.data())];
    });
    expect(result).toEqual([14, [2, 4, 6]]);
    expect(isAnomalyEnabled()).toBe(false);
  });

  it('frees the buffers it held once checked', async () => {
    const before = memory().buffers;
    await detectAnomaly(async () => {
      const x = tensor([1, 2]);
      const y = x.exp();
      x.dispose();
      y.dispose();
    });
    expect(memory().buffers).toBe(before);
  });
});

describe('train --detect-anomaly', () => {
  it('names the op where a diverging run first goes non-finite, in one line', async () => {
    const text = join(dir, 'text.txt');
    await writeFile(text, (await loadText()).text.slice(50_000, 53_000));
    let err = '';
    const io: CliIO = { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } };
    const code = await trainMain([
      '--device', 'reference', '--block-size', '8', '--n-layer', '1', '--n-head', '2', '--n-embd', '8', '--batch', '2', '--eval-iters', '1',
      '--data', text, '--out', join(dir, 'run'), '--steps', '40', '--lr', '1e6', '--warmup', '0', '--grad-clip', '0', '--sample-tokens', '0', '--detect-anomaly',
    ], io);
    expect(code, err).toBe(1);
    // on the reference device the first Infinity is a gradient of the attention's input projection
    expect(err).toMatch(/^train: anomaly(:| in the (forward|backward)).*(produced|returned|was given|update of step \d+ made).*(created at|try a lower)/m);
    expect(err).not.toMatch(/unexpected error|\n\s+at /);
  });
});
