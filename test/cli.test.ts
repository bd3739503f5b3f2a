import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setDevice } from '@flashgrad/core';
import { loadText, sampleMain, trainMain, type CliIO } from '@flashgrad/models';

const root = fileURLToPath(new URL('..', import.meta.url));

function captureIO(): CliIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    out: () => out,
    err: () => err,
  };
}

async function run(main: typeof trainMain, argv: string[]) {
  const io = captureIO();
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err() };
}

// A micro model on the reference device: each CLI run takes a second or two.
const MICRO = ['--device', 'reference', '--block-size', '16', '--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--batch', '4', '--eval-iters', '1'];
let dir: string;
let textFile: string;

beforeAll(async () => {
  await setDevice('reference');
  dir = await mkdtemp(join(tmpdir(), 'flashgrad-cli-'));
  textFile = join(dir, 'text.txt');
  await writeFile(textFile, (await loadText()).text.slice(50_000, 56_000));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('pnpm train', () => {
  it('trains, checkpoints, plots and samples; then resumes and samples from the checkpoint', async () => {
    const out = join(dir, 'run');
    const first = await run(trainMain, [...MICRO, '--data', textFile, '--steps', '6', '--eval-every', '3', '--out', out, '--sample-tokens', '30']);
    expect(first.err).not.toMatch(/unexpected error/);
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/step 3: val loss \d\.\d{4}/);
    expect(first.err).toMatch(/6\/6 \[#+\] loss \d\.\d{3} \| [\d,]+ tok\/s \| ETA 0s/);
    expect(first.out).toMatch(/val loss \d\.\d{4} nats\/token over the whole val split/);
    expect(first.out).toMatch(/--- sample \(30 tokens/);
    for (const f of ['model.safetensors', 'checkpoint.json', 'loss.svg', 'sample.txt']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    // one generation of weights and moments, committed by checkpoint.json; nothing else left over
    expect((await readdir(out)).filter((f) => /safetensors|tmp/.test(f)).sort()).toEqual(
      ['model.2.safetensors', 'model.safetensors', 'optimizer.2.safetensors'],
    );
    expect(await readFile(join(out, 'loss.svg'), 'utf8')).toMatch(/class="train"[\s\S]*class="val"/);

    const resumed = await run(trainMain, ['--device', 'reference', '--data', textFile, '--out', out, '--resume', '--steps', '8', '--sample-tokens', '0']);
    expect(resumed.code).toBe(0);
    expect(resumed.err).toMatch(/resuming the run in/);
    expect(resumed.out).toMatch(/done: 8 steps/);
    const json = JSON.parse(await readFile(join(out, 'checkpoint.json'), 'utf8'));
    expect(json.train.step).toBe(8);
    expect(json.train.settings.batchSize).toBe(4); // kept from the first run
    expect(Object.keys(json.train.settings).sort()).toEqual([
      'batchSize', 'betas', 'evalEvery', 'evalIters', 'gradAccum', 'gradClip', 'lr', 'minLr', 'seed', 'steps', 'warmup', 'weightDecay',
    ]);

    const sampled = await run(sampleMain, ['--device', 'reference', '--ckpt', out, '--prompt', 'the ', '--tokens', '20', '--seed', '1']);
    expect(sampled.code).toBe(0);
    expect(sampled.out.startsWith('the ')).toBe(true);
    expect(sampled.out.length).toBe('the '.length + 20 + 1);
    const again = await run(sampleMain, ['--device', 'reference', '--ckpt', out, '--prompt', 'the ', '--tokens', '20', '--seed', '1']);
    expect(again.out).toBe(sampled.out);

    const badPrompt = await run(sampleMain, ['--device', 'reference', '--ckpt', out, '--prompt', 'Ω☃']);
    expect(badPrompt.code).toBe(1);
    expect(badPrompt.err).toMatch(/--prompt: .*not in the vocabulary.*"Ω", "☃"/);
    expect(badPrompt.err).not.toMatch(/\n\s+at /);

    const otherShape = await run(trainMain, ['--device', 'reference', '--data', textFile, '--out', out, '--resume', '--steps', '9', '--n-layer', '2']);
    expect(otherShape.code).toBe(1);
    expect(otherShape.err).toMatch(/another shape: nLayer is 1 there, 2 here/);
  });

  it('explains bad input with one line and a non-zero exit, never a stack trace', async () => {
    const empty = join(dir, 'empty.txt');
    const short = join(dir, 'short.txt');
    await writeFile(empty, '');
    await writeFile(short, 'Call me Ishmael. '.repeat(5));
    const cases: [string[], number, RegExp][] = [
      [['--bogus', '1'], 2, /Unknown flag --bogus\. Valid flags: .*--preset/],
      [['--steps', 'ten'], 2, /--steps expects an integer, got "ten"/],
      [['--preset', 'huge'], 2, /Unknown --preset "huge"; choose one of tiny, quick, base, small, gpt2/],
      [[...MICRO, '--data', join(dir, 'missing.txt')], 1, /--data: loadText: no such file: .*missing\.txt/],
      [[...MICRO, '--data', empty], 1, /--data: loadText: .*empty\.txt is empty/],
      [[...MICRO, '--data', short], 1, /too short: 85 tokens, but blockSize 16 needs about 180/],
      [['--device', 'reference', '--data', textFile, '--n-embd', '18', '--n-head', '4'], 1, /nEmbd \(18\) must be divisible by nHead \(4\)/],
      [[...MICRO, '--data', textFile, '--out', join(dir, 'nothing'), '--resume'], 1, /--resume: No checkpoint in .*checkpoint\.json is missing/],
      [['--device', 'tpu'], 1, /cannot use device 'tpu': setDevice: unknown device 'tpu'/],
      // a usage error before any work, not an 'unexpected error' and a stack from the settings check
      [['--seed', '-1'], 2, /--seed must be at least 0, got -1/],
      // refused before training: it failed at the first checkpoint, after the run's work ('unexpected error', EEXIST)
      [[...MICRO, '--data', textFile, '--steps', '1', '--out', textFile], 1, /--out .*text\.txt cannot be the run's folder: it \(or a folder above it\) is a file/],
      [[...MICRO, '--data', textFile, '--steps', '1', '--out', join(textFile, 'run')], 1, /--out .*text\.txt\/run cannot be the run's folder: it \(or a folder above it\) is a file/],
    ];
    for (const [argv, code, message] of cases) {
      const r = await run(trainMain, argv);
      expect(r.err, argv.join(' ')).toMatch(message);
      expect(r.code, argv.join(' ')).toBe(code);
      expect(r.err, argv.join(' ')).not.toMatch(/\n\s+at /);
    }
    const missingCkpt = await run(sampleMain, ['--device', 'reference', '--ckpt', join(dir, 'nothing')]);
    expect(missingCkpt.code).toBe(1);
    expect(missingCkpt.err).toMatch(/--ckpt: No checkpoint in/);
  });

  it('prints its flags on --help', async () => {
    const r = await run(trainMain, ['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--preset <string>\s+model and training preset: tiny, quick, base, small, gpt2 \(default: "quick"\)/);
    expect(r.out).toMatch(/--eval-every <int>/);
  });

  it('exits non-zero with a clear message from the built example, when built', (ctx) => {
    if (!existsSync(join(root, 'packages/models/dist/index.js'))) {
      ctx.skip();
      return;
    }
    const r = spawnSync(process.execPath, ['examples/train.js', '--steps', '0', '--bogus'], {
      cwd: root, encoding: 'utf8', env: { ...process.env, FLASHGRAD_DEVICE: 'reference' }, timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^train: Unknown flag --bogus/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
