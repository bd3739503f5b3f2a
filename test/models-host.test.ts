/**
 * The host-side parts of @flashgrad/models, which need no tensors: tokenizers, data loading and
 * batching, safetensors, checkpoint files, the argv parser, the progress bar and the loss plot.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_FILES, loadCheckpointFiles, saveCheckpointFiles, writeFileAtomic } from '../packages/models/src/checkpoint-io.js';
import { parseArgs, usage, UsageError, type ArgsSpec } from '../packages/models/src/cli-args.js';
import { BatchSampler, loadText, splitTrainVal } from '../packages/models/src/data.js';
import { lossCurveSvg } from '../packages/models/src/plot.js';
import { formatDuration, Progress } from '../packages/models/src/progress.js';
import { readSafetensors, writeSafetensors, type F32Tensor } from '../packages/models/src/safetensors.js';
import { CharTokenizer, Gpt2Tokenizer, tokenizerFromJSON } from '../packages/models/src/tokenizer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flashgrad-models-host-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('CharTokenizer', () => {
  it('round-trips any string over its own alphabet, astral characters included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }), (text) => {
        const tok = CharTokenizer.fromText(text);
        const ids = tok.encode(text);
        expect(tok.decode(ids)).toBe(text);
        expect(ids.every((id) => id >= 0 && id < tok.vocabSize)).toBe(true);
        expect(tokenizerFromJSON(JSON.parse(JSON.stringify(tok))).encode(text)).toEqual(ids);
      }),
    );
  });

  it('sorts the vocabulary by code point, as nanoGPT does', () => {
    const tok = CharTokenizer.fromText('hello world\n😀\uffff');
    expect(tok.chars).toEqual(['\n', ' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w', '\uffff', '😀']);
    expect(tok.encode('hello')).toEqual([4, 3, 5, 5, 6]);
  });

  it('names the unknown characters, JSON-escaped', () => {
    const tok = CharTokenizer.fromText('abc');
    expect(() => tok.encode('abxc\u0000y')).toThrow(/3 character\(s\) not in the vocabulary of 3: "x", "\\u0000", "y"/);
    expect(() => tok.decode([3])).toThrow(/outside the vocabulary/);
  });
});

describe('Gpt2Tokenizer', () => {
  const tok = new Gpt2Tokenizer();

  it('is GPT-2 r50k_base with 50257 tokens', () => {
    expect(tok.vocabSize).toBe(50257);
    // Ids from tiktoken.get_encoding("gpt2").encode("Hello world").
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.decode([tok.eotToken])).toBe('<|endoftext|>');
    expect(tokenizerFromJSON(tok.toJSON())).toBeInstanceOf(Gpt2Tokenizer);
  });

  it('round-trips text, including a literal <|endoftext|> and non-ASCII', () => {
    for (const s of ['', 'Call me Ishmael.', '  spaces\tand\nnewlines  ', 'naïve café — 日本語 😀', 'a <|endoftext|> b']) {
      expect(tok.decode(tok.encode(s))).toBe(s);
    }
    expect(tok.encode('<|endoftext|>')).not.toContain(tok.eotToken);
  });

  it('rejects unknown kinds', () => {
    expect(() => tokenizerFromJSON({ kind: 'bpe' })).toThrow(/unknown tokenizer kind "bpe"/);
  });
});

describe('loadText', () => {
  it('defaults to Moby Dick, which ships in the package', async () => {
    const { text, source } = await loadText();
    expect(source).toContain('moby-dick');
    expect(text.length).toBeGreaterThan(1_000_000);
    expect(text).toContain('CHAPTER 1. Loomings.\n\nCall me Ishmael.');
    // In book order: the table of contents first, chapter 1 before chapter 2.
    expect(text.startsWith('CONTENTS')).toBe(true);
    expect(text.indexOf('Call me Ishmael')).toBeLessThan(text.indexOf('CHAPTER 2. The Carpet-Bag.\n\nI stuffed a shirt'));
    expect(text.trimEnd().endsWith('only found another orphan.')).toBe(true);
  });

  it('reads a UTF-8 file and explains missing, empty and binary files', async () => {
    const p = join(dir, 'tiny.txt');
    await writeFile(p, '\ufeffhéllo');
    expect(await loadText(p)).toEqual({ text: 'héllo', source: p });
    await expect(loadText(join(dir, 'nope.txt'))).rejects.toThrow(/no such file: .*nope\.txt/);
    await writeFile(join(dir, 'empty.txt'), '');
    await expect(loadText(join(dir, 'empty.txt'))).rejects.toThrow(/empty/);
    await writeFile(join(dir, 'bin.txt'), new Uint8Array([0xff, 0xfe, 0x00, 0xc3]));
    await expect(loadText(join(dir, 'bin.txt'))).rejects.toThrow(/not valid UTF-8/);
  });
});

describe('splitTrainVal and BatchSampler', () => {
  const tokens = Int32Array.from({ length: 1000 }, (_, i) => i);

  it('splits 90/10 in order', () => {
    const { train, val } = splitTrainVal(tokens, 0.9);
    expect([train.length, val.length, train[899], val[0]]).toEqual([900, 100, 899, 900]);
  });

  it('draws windows whose targets are the inputs shifted by one', () => {
    const s = new BatchSampler(tokens, { batchSize: 4, blockSize: 8, seed: 1 });
    const { x, y } = s.next();
    expect(x.length).toBe(32);
    for (let b = 0; b < 4; b++) {
      for (let t = 0; t < 8; t++) {
        expect(y[b * 8 + t]).toBe(x[b * 8 + t] + 1);
        if (t > 0) expect(x[b * 8 + t]).toBe(x[b * 8 + t - 1] + 1);
      }
    }
  });

  it('is deterministic per seed and resumes exactly from a saved state', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 20 }), (seed, warmup) => {
        const opts = { batchSize: 3, blockSize: 5, seed };
        const a = new BatchSampler(tokens, opts);
        const b = new BatchSampler(tokens, opts);
        for (let i = 0; i < warmup; i++) expect(a.next()).toEqual(b.next());
        const state = JSON.parse(JSON.stringify(a.getState()));
        const expected = [a.next(), a.next(), a.next()];
        const resumed = new BatchSampler(tokens, opts);
        resumed.setState(state);
        expect([resumed.next(), resumed.next(), resumed.next()]).toEqual(expected);
      }),
    );
    const first = (seed: number) => new BatchSampler(tokens, { batchSize: 8, blockSize: 4, seed }).next().x;
    expect(first(1)).not.toEqual(first(2));
  });

  it('uses every start position, the last one included', () => {
    const short = Int32Array.from([0, 1, 2, 3]);
    const s = new BatchSampler(short, { batchSize: 200, blockSize: 2, seed: 7 });
    const starts = new Set<number>();
    const { x } = s.next();
    for (let b = 0; b < 200; b++) starts.add(x[b * 2]);
    expect([...starts].sort()).toEqual([0, 1]);
  });

  it('says how many tokens a too-short split needs and has', () => {
    expect(() => new BatchSampler(tokens.subarray(0, 8), { batchSize: 1, blockSize: 8 })).toThrow(
      /needs at least 9 tokens.*has 8/,
    );
  });
});

describe('safetensors', () => {
  const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 });
  // Random bit patterns cover NaNs with arbitrary payloads, ±0, subnormals and infinities.
  const tensorArb = shapeArb.chain((shape) =>
    fc
      .array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) })
      .map((bits): F32Tensor => ({ shape, data: new Float32Array(Uint32Array.from(bits).buffer) })),
  );
  const bitsOf = (t: F32Tensor) => Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));

  it('round-trips bit-exactly, NaN payloads included', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => k !== '__metadata__'), tensorArb, { maxKeys: 6 }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
        (tensors, metadata) => {
          const bytes = writeSafetensors(tensors, metadata);
          const back = readSafetensors(bytes);
          expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
          for (const [name, t] of Object.entries(tensors)) {
            expect(back.tensors[name].shape).toEqual(t.shape);
            expect(bitsOf(back.tensors[name])).toEqual(bitsOf(t));
          }
          expect(back.metadata).toEqual(metadata);
        },
      ),
    );
    const nan = new Float32Array(new Uint32Array([0x7fc00001, 0xffbadbad, 0x7f800001]).buffer);
    expect(bitsOf(readSafetensors(writeSafetensors({ n: { shape: [3], data: nan } })).tensors.n)).toEqual([
      0x7fc00001, 0xffbadbad, 0x7f800001,
    ]);
  });

  it('lays the header out as the spec says', () => {
    const bytes = writeSafetensors(
      { wte: { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }, b: { shape: [1], data: Float32Array.from([-0.5]) } },
      { format: 'pt' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(headerText.trimEnd().length).toBeGreaterThan(n - 8); // padded with at most 7 spaces
    expect(headerText.slice(headerText.trimEnd().length)).toMatch(/^ *$/);
    expect(JSON.parse(headerText)).toEqual({
      __metadata__: { format: 'pt' },
      wte: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
      b: { dtype: 'F32', shape: [1], data_offsets: [16, 20] },
    });
    expect(bytes.length).toBe(8 + n + 20);
    expect(Array.from(bytes.subarray(8 + n, 8 + n + 4))).toEqual([0x00, 0x00, 0x80, 0x3f]); // 1.0f, little-endian
  });

  it('rejects truncated files, bad headers and other dtypes with clear messages', () => {
    const good = writeSafetensors({ w: { shape: [4], data: new Float32Array(4) } });
    expect(() => readSafetensors(good.subarray(0, 5))).toThrow(/truncated/);
    expect(() => readSafetensors(good.subarray(0, 20))).toThrow(/truncated/);
    expect(() => readSafetensors(good.subarray(0, good.length - 1))).toThrow(/truncated/);

    const withHeader = (header: string, dataBytes = 0) => {
      const json = new TextEncoder().encode(header);
      const out = new Uint8Array(8 + json.length + dataBytes);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      return out;
    };
    expect(() => readSafetensors(withHeader('{not json'))).toThrow(/bad header/);
    expect(() => readSafetensors(withHeader('[1,2]'))).toThrow(/bad header/);
    expect(() => readSafetensors(withHeader('{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', 4))).toThrow(
      /unsupported dtype "F16"/,
    );
    expect(() => readSafetensors(withHeader('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4))).toThrow(
      /do not match shape/,
    );
    expect(() => readSafetensors(withHeader('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8))).toThrow(/hole/);
  });
});

describe('checkpoint files', () => {
  it('writeFileAtomic replaces content and leaves no temp file', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const p = join(sub, 'f.json');
    await writeFileAtomic(p, 'old');
    await writeFileAtomic(p, new Uint8Array([110, 101, 119]));
    expect(await readFile(p, 'utf8')).toBe('new');
    expect(await readdir(sub)).toEqual(['f.json']);
    await expect(writeFileAtomic(join(sub, 'missing-dir', 'f'), 'x')).rejects.toThrow();
    expect(await readdir(sub)).toEqual(['f.json']);
  });

  it('saves a generation, commits it by one rename, and names what differs on load', async () => {
    const ck = join(dir, 'ckpt');
    const weights = writeSafetensors({ w: { shape: [2], data: Float32Array.from([1, 2]) } });
    const optimizer = writeSafetensors({ 'w.m': { shape: [2], data: Float32Array.from([0, 0]) } });
    const json = { step: 10, config: { nLayer: 2 }, sampler: { rng: 5, batches: 10 } };
    await saveCheckpointFiles(ck, { weights, optimizer, json });
    expect((await readdir(ck)).sort()).toEqual([CHECKPOINT_FILES.json, CHECKPOINT_FILES.weights, 'model.1.safetensors', 'optimizer.1.safetensors'].sort());
    expect(new Uint8Array(await readFile(join(ck, CHECKPOINT_FILES.weights)))).toEqual(weights); // the alias for other tools
    const back = await loadCheckpointFiles(ck);
    expect(back.json).toEqual(json);
    expect(back.weights).toEqual(weights);
    expect(back.optimizer).toEqual(optimizer);

    // leftovers of an interrupted save: a higher generation never committed, and a temp file
    await writeFile(join(ck, 'model.7.safetensors'), 'torn');
    await writeFile(join(ck, '.checkpoint.json.123.abcd.tmp'), '{');
    await saveCheckpointFiles(ck, { weights, json }); // without optimizer: the stale file goes
    expect((await readdir(ck)).sort()).toEqual([CHECKPOINT_FILES.json, CHECKPOINT_FILES.weights, 'model.8.safetensors'].sort());
    expect((await loadCheckpointFiles(ck)).optimizer).toBeUndefined();

    const flipped = Uint8Array.from(weights);
    flipped[flipped.length - 1] ^= 1;
    await writeFile(join(ck, 'model.8.safetensors'), flipped);
    await expect(loadCheckpointFiles(ck)).rejects.toThrow(/SHA-256 of model\.8\.safetensors differs from the one in checkpoint\.json.*same size/);
    await writeFile(join(ck, 'model.8.safetensors'), weights.subarray(1));
    await expect(loadCheckpointFiles(ck)).rejects.toThrow(new RegExp(`model\\.8\\.safetensors has ${weights.length - 1} bytes, checkpoint\\.json lists ${weights.length}`));
    await rm(join(ck, 'model.8.safetensors'));
    await expect(loadCheckpointFiles(ck)).rejects.toThrow(/incomplete: model\.8\.safetensors is missing/);
    await expect(loadCheckpointFiles(join(dir, 'nothing'))).rejects.toThrow(/No checkpoint/);
    await expect(saveCheckpointFiles(ck, { weights, json: { files: 1 } })).rejects.toThrow(/reserved/);
    await expect(saveCheckpointFiles(ck, { weights, json: { generation: 1 } })).rejects.toThrow(/reserved/);
  });

  it('reads a format-1 checkpoint (fixed names) and replaces it by a generation on the next save', async () => {
    const ck = await mkdtemp(join(dir, 'v1-'));
    const weights = writeSafetensors({ w: { shape: [1], data: Float32Array.from([3]) } });
    const optimizer = writeSafetensors({ m: { shape: [1], data: Float32Array.from([0]) } });
    const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    await writeFile(join(ck, 'model.safetensors'), weights);
    await writeFile(join(ck, 'optimizer.safetensors'), optimizer);
    const files = { 'model.safetensors': { bytes: weights.length, sha256: hash(weights) }, 'optimizer.safetensors': { bytes: optimizer.length, sha256: hash(optimizer) } };
    await writeFile(join(ck, CHECKPOINT_FILES.json), JSON.stringify({ format: 'flashgrad-checkpoint/1', files, step: 4 }));
    const back = await loadCheckpointFiles(ck);
    expect(back).toEqual({ weights, optimizer, json: { step: 4 } });
    await saveCheckpointFiles(ck, back);
    expect((await readdir(ck)).sort()).toEqual([CHECKPOINT_FILES.json, 'model.1.safetensors', CHECKPOINT_FILES.weights, 'optimizer.1.safetensors'].sort());
    expect(await loadCheckpointFiles(ck)).toEqual(back);
  });

  it('a manifest pointing outside the checkpoint or malformed is refused by name', async () => {
    const ck = await mkdtemp(join(dir, 'manifest-'));
    const bad: [unknown, RegExp][] = [
      [null, /not a JSON object/],
      [{ format: 'flashgrad-checkpoint/2', files: null }, /"files" must be an object/],
      [{ format: 'flashgrad-checkpoint/2', files: { model: { name: '../x.safetensors', bytes: 1, sha256: '0'.repeat(64) } } }, /files\.model must be/],
      [{ format: 'flashgrad-checkpoint/2', files: { model: { name: 'model.1.safetensors', bytes: '1', sha256: '0'.repeat(64) } } }, /files\.model must be/],
      [{ format: 'flashgrad-checkpoint/2', files: {} }, /lists no weights file/],
      [{ format: 'other' }, /unknown format "other"/],
    ];
    for (const [json, message] of bad) {
      await writeFile(join(ck, CHECKPOINT_FILES.json), JSON.stringify(json));
      await expect(loadCheckpointFiles(ck), JSON.stringify(json)).rejects.toThrow(message);
    }
  });
});

describe('parseArgs', () => {
  const spec = {
    batchSize: { type: 'int', default: 8, help: 'sequences per step' },
    lr: { type: 'number', default: 1e-3, help: 'learning rate' },
    data: { type: 'string', help: 'text file (default: Moby Dick)' },
    compile: { type: 'boolean', help: 'compile kernels up front' },
  } as const satisfies ArgsSpec;

  it('parses --flag value, --flag=value, camelCase, booleans and defaults', () => {
    expect(parseArgs(spec, [])).toEqual({ batchSize: 8, lr: 1e-3, data: undefined, compile: false });
    const a = parseArgs(spec, ['--batch-size', '16', '--lr=-3e-4', '--data', 'x.txt', '--compile']);
    expect(a).toEqual({ batchSize: 16, lr: -3e-4, data: 'x.txt', compile: true });
    const n: number = a.batchSize; // typed from the spec
    expect(n).toBe(16);
    expect(parseArgs(spec, ['--batchSize', '4', '--no-compile', '--lr', '-1'])).toMatchObject({ batchSize: 4, compile: false, lr: -1 });
    expect(parseArgs(spec, ['--compile=false']).compile).toBe(false);
  });

  it('throws UsageError naming the flag and listing the valid ones', () => {
    const err = (argv: string[]) => {
      try {
        parseArgs(spec, argv);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error('expected a UsageError');
    };
    const valid = /Valid flags: --batch-size, --lr, --data, --compile/;
    expect(err(['--bach-size', '3'])).toMatch(/Unknown flag --bach-size/);
    expect(err(['--bach-size', '3'])).toMatch(valid);
    expect(err(['--lr'])).toMatch(/--lr is missing its value/);
    expect(err(['--data', '--lr', '1'])).toMatch(/--data is missing its value/);
    expect(err(['--lr', 'fast'])).toMatch(/--lr expects a number, got "fast"/);
    expect(err(['--batch-size', '1.5'])).toMatch(/--batch-size expects an integer/);
    expect(err(['--batch-size', ''])).toMatch(/--batch-size expects an integer/);
    expect(err(['--lr', 'Infinity'])).toMatch(/--lr expects a number, got "Infinity"/);
    for (const notation of ['0x10', '0b11', '0o7', '1_000']) expect(err(['--batch-size', notation])).toMatch(new RegExp(`--batch-size expects an integer, got "${notation}"`));
    expect(err(['--lr', ' 1'])).toMatch(/--lr expects a number, got " 1"/);
    expect(parseArgs(spec, ['--lr', '-2.5e-3', '--batch-size', '1e3'])).toMatchObject({ lr: -2.5e-3, batchSize: 1000 });
    expect(parseArgs(spec, ['--lr', '.5'])).toMatchObject({ lr: 0.5 });
    expect(err(['--compile=yes'])).toMatch(/--compile expects true or false/);
    expect(err(['stray'])).toMatch(/Unexpected argument "stray"/);
    expect(err(['--lr', '1', '--lr', '2'])).toMatch(/more than once/);
    expect(err(['--no-lr'])).toMatch(/Unknown flag --no-lr/);
    expect(() => parseArgs(spec, ['--help'])).toThrow(expect.objectContaining({ help: true }));
  });

  it('prints usage with types and defaults', () => {
    const text = usage(spec, 'train');
    expect(text).toMatch(/^Usage: train \[flags\]/);
    expect(text).toMatch(/--batch-size <int> +sequences per step \(default: 8\)/);
    expect(text).toMatch(/--compile +compile kernels up front\n/);
  });
});

describe('Progress', () => {
  const fakeStream = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, stream: { isTTY, columns: 120, write: (s: string) => chunks.push(s) } };
  };

  it('redraws in place on a TTY and keeps log lines above the bar', () => {
    let t = 0;
    const { chunks, stream } = fakeStream(true);
    const p = new Progress(100, { stream, now: () => t, width: 10 });
    p.update(0, { loss: 4 });
    t = 1000;
    p.update(50, { loss: 2.3456, tokensPerSec: 12345.4 });
    expect(chunks.at(-1)).toBe('\r\x1b[K 50/100 [#####.....] loss 2.346 | 12,345 tok/s | ETA 1s');
    p.log('eval: val loss 2.5');
    expect(chunks.at(-1)).toBe('\r\x1b[Keval: val loss 2.5\n 50/100 [#####.....] loss 2.346 | 12,345 tok/s | ETA 1s');
    t = 1010;
    p.update(51); // throttled
    expect(chunks.length).toBe(3);
    t = 2000;
    p.update(100, { loss: 1 });
    p.done();
    expect(chunks.at(-1)).toBe('\r\x1b[K100/100 [##########] loss 1.000 | ETA 0s\n');
  });

  it('prints occasional plain lines when not a TTY', () => {
    let t = 0;
    const { chunks, stream } = fakeStream(false);
    const p = new Progress(1000, { stream, now: () => t, plainIntervalMs: 10_000 });
    for (let s = 0; s <= 1000; s++) {
      t = s * 100; // 0.1 s per step: 100 s in all, a line every 10 s
      p.update(s, { loss: 1 });
    }
    p.done();
    expect(chunks.every((c) => c.endsWith('\n') && !c.includes('\r'))).toBe(true);
    expect(chunks.length).toBe(11);
    expect(chunks[1]).toMatch(/^ 100\/1000 \[###\.+\] loss 1\.000 \| ETA 1m30s\n$/);
    expect(formatDuration(3725)).toBe('1h02m');
  });
});

describe('lossCurveSvg', () => {
  it('draws a self-contained chart with both curves, axes and legend', () => {
    const train = Array.from({ length: 200 }, (_, i): [number, number] => [i * 10, 4 * Math.exp(-i / 50) + 1]);
    const val: [number, number][] = [[0, 5], [500, 2.5], [1000, NaN], [1990, 1.2]];
    const svg = lossCurveSvg({ train, val }, { title: 'GPT <tiny> & char' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('GPT &lt;tiny&gt; &amp; char');
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    expect(svg).toMatch(/>step</);
    expect(svg).toMatch(/>train</);
    expect(svg).toMatch(/>val</);
    expect(svg.match(/<circle /g)).toHaveLength(3);
    expect(lossCurveSvg({ train: [], val: [] })).toContain('no data');
    expect(lossCurveSvg({ train: [[5, 2]], val: [] })).not.toMatch(/NaN/);
  });
});
