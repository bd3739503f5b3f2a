/** `pnpm sample --ckpt DIR`: text from a trained checkpoint, streamed to stdout as it is drawn. */
import { parseArgs, UsageError, type ArgsSpec } from '../cli-args.js';
import { loadCheckpoint } from '../checkpoint.js';
import { sample } from '../sample.js';
import type { CharTokenizer, Gpt2Tokenizer, Tokenizer } from '../tokenizer.js';
import { asInput, processIO, runCommand, startDevice, type CliIO } from './common.js';

export const sampleFlags = {
  ckpt: { type: 'string', default: 'out', help: 'checkpoint directory (what pnpm train wrote)' },
  prompt: { type: 'string', help: 'text to continue (default: a newline, or <|endoftext|> for GPT-2 tokens)' },
  tokens: { type: 'int', default: 500, help: 'tokens to generate' },
  temperature: { type: 'number', default: 0.8, help: '< 1 sharper, > 1 more random, 0 greedy' },
  topK: { type: 'int', default: 200, help: 'sample among the k most likely tokens' },
  seed: { type: 'int', help: 'seed for reproducible text (default: random)' },
  device: { type: 'string', help: 'auto, webgpu, wasm, cpu, headlessgl or reference (default: $FLASHGRAD_DEVICE or auto)' },
} as const satisfies ArgsSpec;

function defaultPrompt(tokenizer: Tokenizer): number[] {
  if (tokenizer.kind === 'gpt2') return [(tokenizer as Gpt2Tokenizer).eotToken];
  const chars = (tokenizer as CharTokenizer).chars;
  return [Math.max(0, chars.indexOf('\n'))];
}

/** Parses argv, samples, writes the text to io.stdout and returns it. */
export async function runSample(argv: readonly string[], io: CliIO = processIO()): Promise<string> {
  const args = parseArgs(sampleFlags, argv);
  if (args.tokens < 0) throw new UsageError(`--tokens must be at least 0, got ${args.tokens}`);
  if (!(args.temperature >= 0)) throw new UsageError(`--temperature must be ≥ 0, got ${args.temperature}`);
  if (args.topK < 1) throw new UsageError(`--top-k must be at least 1, got ${args.topK}`);
  await startDevice(args.device ?? process.env.FLASHGRAD_DEVICE ?? 'auto');
  const { model, tokenizer } = await asInput('--ckpt: ', () => loadCheckpoint(args.ckpt));
  const prompt = args.prompt === undefined || args.prompt === ''
    ? defaultPrompt(tokenizer)
    : await asInput('--prompt: ', () => tokenizer.encode(args.prompt!));
  if (prompt.length === 0) throw new UsageError('--prompt encodes to no tokens');
  if (args.prompt) io.stdout.write(args.prompt);
  // Decoding token by token would split GPT-2's multi-byte characters, so stream only char tokens.
  const stream = tokenizer.kind === 'char';
  const out = await sample(model, prompt, {
    maxNewTokens: args.tokens, temperature: args.temperature, topK: args.topK, seed: args.seed,
    onToken: stream ? (t) => io.stdout.write(tokenizer.decode([t])) : undefined,
  });
  const text = tokenizer.decode(out.slice(prompt.length));
  if (!stream) io.stdout.write(text);
  io.stdout.write('\n');
  return text;
}

/** The `pnpm sample` entry point: returns the exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2), io: CliIO = processIO()): Promise<number> {
  return runCommand(io, 'sample', async () => {
    await runSample(argv, io);
  });
}

