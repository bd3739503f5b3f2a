// A training run killed with SIGKILL at random moments and inside every window of a save; after
// each kill the last completed checkpoint must sample and resume, and no leftovers may pile up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setDevice } from '@flashgrad/core';
import { loadText, sampleMain, trainMain, type CliIO } from '@flashgrad/models';

const root = fileURLToPath(new URL('..', import.meta.url));
const MICRO = ['--device', 'reference', '--block-size', '8', '--n-layer', '1', '--n-head', '2', '--n-embd', '8', '--batch', '2', '--eval-iters', '1'];
const SAVE_POINTS = ['model-written', 'optimizer-written', 'manifest-written', 'committed', 'cleaned', 'alias'];
// 6 kills inside the windows of a save + 14 at random moments = 20 (CRASH_KILLS scales the random ones)
const RANDOM_KILLS = Number(process.env.CRASH_KILLS ?? 14);

let dir: string;
let textFile: string;
let out: string;

function captureIO(): CliIO & { text: () => string } {
  let text = '';
  const write = (s: string) => (text += s);
  return { stdout: { write }, stderr: { write }, text: () => text };
}

/** Mulberry32: the kill times are random but replayable (CRASH_SEED). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ChildEnd {
  signal: NodeJS.Signals | null;
  code: number | null;
  output: string;
}

/** `train` in a process of its own (on the sources), killed after `killAfterMs` once it has saved, or by its crash hook. */
function trainChild(argv: string[], options: { crashAt?: string; killAfterMs?: number }): Promise<ChildEnd> {
  const child = spawn(process.execPath, ['--import', './test/helpers/ts-register.mjs', 'test/helpers/cli-entry.ts', 'train', ...argv], {
    cwd: root,
    env: { ...process.env, FLASHGRAD_CRASH_AT: options.crashAt ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  let timer: NodeJS.Timeout | undefined;
  if (options.killAfterMs !== undefined) {
    // start the clock at the child's first progress line: by then it has compiled and is training
    child.stderr.once('data', () => {
      timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    });
  }
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

async function savedStep(): Promise<number> {
  return JSON.parse(await readFile(join(out, 'checkpoint.json'), 'utf8')).train.step;
}

/** The checkpoint samples, and resumes for one step; the folder then holds one generation and nothing stray. */
async function checkRecovers(expectStep: number | ((s: number) => boolean), context: string): Promise<number> {
  const step = await savedStep();
  if (typeof expectStep === 'number') expect(step, context).toBe(expectStep);
  else expect(expectStep(step), `${context}: step ${step}`).toBe(true);
  const sampled = captureIO();
  expect(await sampleMain(['--device', 'reference', '--ckpt', out, '--tokens', '5', '--seed', '1'], sampled), `${context}: sample\n${sampled.text()}`).toBe(0);
  const resumed = captureIO();
  const resumeArgs = ['--device', 'reference', '--data', textFile, '--out', out, '--resume', '--steps', String(step + 1), '--sample-tokens', '0'];
  expect(await trainMain(resumeArgs, resumed), `${context}: resume\n${resumed.text()}`).toBe(0);
  expect(await savedStep()).toBe(step + 1);
  const files = (await readdir(out)).sort();
  const n = JSON.parse(await readFile(join(out, 'checkpoint.json'), 'utf8')).generation;
  expect(files, context).toEqual(['checkpoint.json', 'loss.svg', `model.${n}.safetensors`, 'model.safetensors', `optimizer.${n}.safetensors`]);
  return step + 1;
}

beforeAll(async () => {
  await setDevice('reference');
  dir = await mkdtemp(join(tmpdir(), 'flashgrad-crash-'));
  textFile = join(dir, 'text.txt');
  out = join(dir, 'run');
  await writeFile(textFile, (await loadText()).text.slice(50_000, 53_000));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a training run killed with SIGKILL', () => {
  it('keeps its last completed checkpoint through a kill inside every window of a save', async () => {
    const first = await trainChild([...MICRO, '--data', textFile, '--out', out, '--steps', '2', '--save-every', '1', '--sample-tokens', '0'], {});
    expect(first.code, first.output).toBe(0);
    let step = await savedStep();
    for (const point of SAVE_POINTS) {
      // the second save of the child: one checkpoint of its own exists, the next is being written
      const end = await trainChild(['--device', 'reference', '--data', textFile, '--out', out, '--resume', '--steps', String(step + 5), '--save-every', '1', '--sample-tokens', '0'], {
        crashAt: `${point}:2`,
      });
      expect(end.signal, `${point}: ${end.output}`).toBe('SIGKILL');
      const committed = SAVE_POINTS.indexOf(point) >= SAVE_POINTS.indexOf('committed');
      step = await checkRecovers(committed ? step + 2 : step + 1, `killed at ${point}`);
    }
  });

  it(`recovers from ${RANDOM_KILLS} kills at random moments`, async () => {
    const random = seeded(Number(process.env.CRASH_SEED ?? 20261201));
    if (!existsSync(join(out, 'checkpoint.json'))) {
      const first = await trainChild([...MICRO, '--data', textFile, '--out', out, '--steps', '1', '--sample-tokens', '0'], {});
      expect(first.code, first.output).toBe(0);
    }
    let step = await savedStep();
    let kills = 0;
    for (let i = 0; i < RANDOM_KILLS; i++) {
      const killAfterMs = Math.floor(random() * 400);
      const end = await trainChild(['--device', 'reference', '--data', textFile, '--out', out, '--resume', '--steps', String(step + 10_000), '--save-every', '1', '--sample-tokens', '0'], {
        killAfterMs,
      });
      expect(end.signal, `kill ${i} after ${killAfterMs} ms: ${end.output}`).toBe('SIGKILL');
      kills++;
      step = await checkRecovers((s) => s >= step, `kill ${i} after ${killAfterMs} ms`);
    }
    expect(kills).toBe(RANDOM_KILLS);
  });
});
