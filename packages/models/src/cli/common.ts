/**
 * What the command-line mains share: their streams, and the rule that a user's mistake (a flag, a
 * file, a shape) ends with one clear line and a non-zero exit, while a bug keeps its stack trace.
 */
import { AnomalyError, setDevice } from '@flashgrad/core';
import { UsageError } from '../cli-args.js';
import { ConfigError } from '../config.js';
import { CheckpointError } from '../checkpoint.js';
import { DivergedError } from '../train.js';

export interface CliIO {
  stdout: { write(chunk: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(chunk: string): unknown; isTTY?: boolean; columns?: number };
}

export const processIO = (): CliIO => ({ stdout: process.stdout, stderr: process.stderr });

/** Bad input that is not a flag: a missing or short data file, a prompt the tokenizer can't encode. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Exit codes: 0 done, 1 bad input or failure, 2 bad flags. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Runs a command body and turns its errors into an exit code and a message on stderr. */
export async function runCommand(io: CliIO, command: string, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError) {
      if (e.help) {
        io.stdout.write(e.message);
        return EXIT.ok;
      }
      io.stderr.write(`${command}: ${e.message}\nRun '${command} --help' for the flags.\n`);
      return EXIT.usage;
    }
    if (e instanceof InputError || e instanceof ConfigError || e instanceof CheckpointError || e instanceof DivergedError || e instanceof AnomalyError) {
      io.stderr.write(`${command}: ${e.message}\n`);
      return EXIT.failure;
    }
    io.stderr.write(`${command}: unexpected error\n${(e as Error)?.stack ?? String(e)}\n`);
    return EXIT.failure;
  }
}

/** Rethrows what `fn` throws as an InputError with `prefix` (a plain Error from a helper is the user's input here). */
export async function asInput<T>(prefix: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof InputError || e instanceof ConfigError || e instanceof CheckpointError || e instanceof UsageError) throw e;
    throw new InputError(`${prefix}${(e as Error).message}`);
  }
}

/** Starts the device, or explains why it cannot start. */
export async function startDevice(name: string): Promise<string> {
  const device = await asInput(`cannot use device '${name}': `, () => setDevice(name));
  return device.name;
}
