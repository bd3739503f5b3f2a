/**
 * Checkpoint files on disk, independent of what the model puts in them:
 *
 *   <dir>/model.safetensors       weights
 *   <dir>/optimizer.safetensors   optimizer moments (optional)
 *   <dir>/checkpoint.json         config, tokenizer, step, sampler/rng state, loss history…
 *
 * Each file is replaced atomically (temp file, fsync, rename), so a crash never leaves a torn
 * file. The three files cannot be renamed together, so checkpoint.json is written last and
 * records each binary's size and SHA-256: a save interrupted between files is detected on load
 * instead of silently pairing new weights with an old step count.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const CHECKPOINT_FILES = {
  weights: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  json: 'checkpoint.json',
} as const;

const FORMAT = 'flashgrad-checkpoint/1';

/** Writes `path` so that readers see either the old content or the new, never a mix. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  // Same directory as the target: rename is only atomic within one filesystem.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync(); // data on disk before the rename makes it visible
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  // Persist the rename itself; some platforms (Windows) cannot open a directory, which is fine.
  try {
    const dh = await open(dirname(path), 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* best effort */
  }
}

export interface CheckpointFiles {
  /** model.safetensors bytes. */
  weights: Uint8Array;
  /** optimizer.safetensors bytes, if the optimizer state is saved. */
  optimizer?: Uint8Array;
  /** Everything else; must be JSON-serialisable. The keys "format" and "files" are reserved. */
  json: Record<string, unknown>;
}

interface FileRecord {
  bytes: number;
  sha256: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const record = (b: Uint8Array): FileRecord => ({ bytes: b.length, sha256: sha256(b) });

export async function saveCheckpointFiles(dir: string, files: CheckpointFiles): Promise<void> {
  for (const key of ['format', 'files']) {
    if (key in files.json) throw new Error(`saveCheckpointFiles: "${key}" is reserved in checkpoint.json`);
  }
  await mkdir(dir, { recursive: true });
  const listed: Record<string, FileRecord> = { [CHECKPOINT_FILES.weights]: record(files.weights) };
  await writeFileAtomic(join(dir, CHECKPOINT_FILES.weights), files.weights);
  if (files.optimizer) {
    listed[CHECKPOINT_FILES.optimizer] = record(files.optimizer);
    await writeFileAtomic(join(dir, CHECKPOINT_FILES.optimizer), files.optimizer);
  }
  const json = { format: FORMAT, files: listed, ...files.json };
  await writeFileAtomic(join(dir, CHECKPOINT_FILES.json), JSON.stringify(json, null, 2) + '\n');
  // A stale optimizer file from an earlier save would otherwise sit next to weights it doesn't match.
  if (!files.optimizer) await rm(join(dir, CHECKPOINT_FILES.optimizer), { force: true });
}

export async function loadCheckpointFiles(dir: string): Promise<CheckpointFiles> {
  const jsonPath = join(dir, CHECKPOINT_FILES.json);
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`No checkpoint in ${dir}: ${CHECKPOINT_FILES.json} is missing`);
    throw e;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`Checkpoint ${jsonPath} is not valid JSON: ${(e as Error).message}`);
  }
  const { format, files: listed, ...json } = parsed as { format?: unknown; files?: Record<string, FileRecord> };
  if (format !== FORMAT) throw new Error(`Checkpoint ${jsonPath}: unknown format ${JSON.stringify(format)} (expected "${FORMAT}")`);

  const readListed = async (name: string): Promise<Uint8Array | undefined> => {
    const want = listed?.[name];
    if (!want) return undefined;
    const path = join(dir, name);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`Checkpoint in ${dir} is incomplete: ${name} is missing`);
      throw e;
    }
    if (bytes.length !== want.bytes || sha256(bytes) !== want.sha256) {
      throw new Error(
        `Checkpoint in ${dir} is inconsistent: ${name} does not match ${CHECKPOINT_FILES.json} ` +
          `(${bytes.length} bytes, expected ${want.bytes}); the last save was probably interrupted`,
      );
    }
    return bytes;
  };

  const weights = await readListed(CHECKPOINT_FILES.weights);
  if (!weights) throw new Error(`Checkpoint ${jsonPath} lists no ${CHECKPOINT_FILES.weights}`);
  const optimizer = await readListed(CHECKPOINT_FILES.optimizer);
  return optimizer ? { weights, optimizer, json } : { weights, json };
}
