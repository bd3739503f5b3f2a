/**
 * Checkpoint files on disk, independent of what the model puts in them. A save is one atomic step:
 *
 *   <dir>/model.<gen>.safetensors       weights of generation <gen>
 *   <dir>/optimizer.<gen>.safetensors   optimizer moments of that generation (optional)
 *   <dir>/checkpoint.json               the manifest: config, tokenizer, step, sampler/rng state,
 *                                       loss history… and the name, size and SHA-256 of each file
 *   <dir>/model.safetensors             a hard link to (or copy of) the newest weights, for other
 *                                       tools (PyTorch's load_file); never read back by us
 *
 * A save writes the new generation's files next to the old ones (each fsynced), then commits by
 * renaming a new checkpoint.json over the old one: the rename is the single atomic step, so a crash
 * at any moment leaves either the old checkpoint or the new one, both whole. Only after the commit
 * are the previous generation's files and any stray temp files removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, copyFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const CHECKPOINT_FILES = {
  /** The alias of the newest weights (other tools read it; we read the generation file). */
  weights: 'model.safetensors',
  json: 'checkpoint.json',
} as const;

const FORMAT = 'flashgrad-checkpoint/2';
/** Format 1 had fixed names, listed in `files` by name; still readable. */
const FORMAT_V1 = 'flashgrad-checkpoint/1';

const GENERATION_FILE = /^(model|optimizer)\.(\d+)\.safetensors$/;
const TEMP_FILE = /^\..+\.tmp$/;

/**
 * Test hook: FLASHGRAD_CRASH_AT=<point>:<n> kills this process with SIGKILL when a save reaches
 * that point for the n-th time (as a power cut or `kill -9` would), so a test can hit every window
 * of a save. Points: model-written, optimizer-written, manifest-written, committed, cleaned, alias.
 * Unset in normal use, where the check is one lookup.
 */
const crashCounts = new Map<string, number>();
function crashPoint(point: string): void {
  const at = process.env.FLASHGRAD_CRASH_AT;
  if (!at) return;
  const [where, nth = '1'] = at.split(':');
  if (where !== point) return;
  const count = (crashCounts.get(point) ?? 0) + 1;
  crashCounts.set(point, count);
  if (count === Number(nth)) process.kill(process.pid, 'SIGKILL');
}

async function syncDir(dir: string): Promise<void> {
  // Persists renames and new names; some platforms (Windows) cannot open a directory, which is fine.
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* best effort */
  }
}

/** Writes a new file (failing if it exists) and fsyncs it before returning. */
async function writeNewFile(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const tempName = (path: string) => join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);

/** Writes `path` so that readers see either the old content or the new, never a mix. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  // Same directory as the target: rename is only atomic within one filesystem.
  const tmp = tempName(path);
  try {
    await writeNewFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(path));
}

export interface CheckpointFiles {
  /** The weights' safetensors bytes. */
  weights: Uint8Array;
  /** The optimizer's safetensors bytes, if the optimizer state is saved. */
  optimizer?: Uint8Array;
  /** Everything else; must be JSON-serialisable. The keys "format", "generation" and "files" are reserved. */
  json: Record<string, unknown>;
}

interface FileRecord {
  name: string;
  bytes: number;
  sha256: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The generation numbers present in dir (committed or left by an interrupted save). */
async function generationsOnDisk(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  return names.map((n) => GENERATION_FILE.exec(n)).filter((m) => m !== null).map((m) => Number(m![2]));
}

async function committedGeneration(dir: string): Promise<number> {
  try {
    const json = JSON.parse(await readFile(join(dir, CHECKPOINT_FILES.json), 'utf8'));
    return Number.isSafeInteger(json?.generation) ? json.generation : 0;
  } catch {
    return 0;
  }
}

/** Format 1's moments file, replaced by the generation files. */
const LEGACY_OPTIMIZER = 'optimizer.safetensors';

/** Removes what no committed manifest refers to: older generations, format 1's moments, temp files of interrupted saves. */
async function removeStale(dir: string, keep: Set<string>): Promise<void> {
  for (const name of await readdir(dir)) {
    const stale = GENERATION_FILE.test(name) || TEMP_FILE.test(name) || name === LEGACY_OPTIMIZER;
    if (stale && !keep.has(name)) await rm(join(dir, name), { force: true });
  }
}

/** Points model.safetensors at the newest weights without copying them (a copy where links fail). */
async function refreshAlias(dir: string, target: string): Promise<void> {
  const alias = join(dir, CHECKPOINT_FILES.weights);
  const tmp = tempName(alias);
  try {
    await link(join(dir, target), tmp).catch(() => copyFile(join(dir, target), tmp));
    crashPoint('alias');
    await rename(tmp, alias);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function saveCheckpointFiles(dir: string, files: CheckpointFiles): Promise<void> {
  for (const key of ['format', 'generation', 'files']) {
    if (key in files.json) throw new Error(`saveCheckpointFiles: "${key}" is reserved in checkpoint.json`);
  }
  await mkdir(dir, { recursive: true });
  // Above every generation on disk, so an uncommitted leftover is never reused or overwritten.
  const generation = Math.max(await committedGeneration(dir), ...(await generationsOnDisk(dir))) + 1;
  const listed: Record<string, FileRecord> = {};
  const written: string[] = [];
  try {
    for (const [kind, bytes] of [['model', files.weights], ['optimizer', files.optimizer]] as const) {
      if (!bytes) continue;
      const name = `${kind}.${generation}.safetensors`;
      written.push(name);
      await writeNewFile(join(dir, name), bytes);
      listed[kind] = { name, bytes: bytes.length, sha256: sha256(bytes) };
      crashPoint(`${kind}-written`);
    }
    await syncDir(dir); // the new names are durable before the manifest that refers to them
    const json = { format: FORMAT, generation, files: listed, ...files.json };
    const manifest = join(dir, CHECKPOINT_FILES.json);
    const tmp = tempName(manifest);
    written.push(basename(tmp));
    await writeNewFile(tmp, JSON.stringify(json, null, 2) + '\n');
    crashPoint('manifest-written');
    await rename(tmp, manifest); // the commit
  } catch (e) {
    for (const name of written) await rm(join(dir, name), { force: true });
    throw e;
  }
  await syncDir(dir);
  crashPoint('committed');
  await removeStale(dir, new Set(Object.values(listed).map((r) => r.name)));
  crashPoint('cleaned');
  await refreshAlias(dir, listed.model.name);
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
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`Checkpoint ${jsonPath} is not a JSON object`);
  const { format, generation: _generation, files: listed, ...json } = parsed as { format?: unknown; generation?: unknown; files?: unknown };
  if (format !== FORMAT && format !== FORMAT_V1) {
    throw new Error(`Checkpoint ${jsonPath}: unknown format ${JSON.stringify(format)} (expected "${FORMAT}")`);
  }
  if (listed === null || typeof listed !== 'object') throw new Error(`Checkpoint ${jsonPath}: "files" must be an object, got ${JSON.stringify(listed)}`);
  const records = listed as Record<string, unknown>;
  // format 1 listed files by their fixed names
  const entry = (kind: 'model' | 'optimizer'): FileRecord | undefined => {
    const raw = format === FORMAT_V1 ? records[`${kind}.safetensors`] : records[kind];
    if (raw === undefined) return undefined;
    const r = { ...(raw as object), ...(format === FORMAT_V1 ? { name: `${kind}.safetensors` } : {}) } as Partial<FileRecord>;
    const nameOk = typeof r.name === 'string' && (format === FORMAT_V1 || GENERATION_FILE.test(r.name));
    if (!nameOk || !Number.isSafeInteger(r.bytes) || typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)) {
      throw new Error(`Checkpoint ${jsonPath}: files.${kind} must be { name, bytes, sha256 } of a generation file, got ${JSON.stringify(raw)}`);
    }
    return r as FileRecord;
  };

  const readListed = async (want: FileRecord | undefined): Promise<Uint8Array | undefined> => {
    if (!want) return undefined;
    const path = join(dir, want.name);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`Checkpoint in ${dir} is incomplete: ${want.name} is missing`);
      throw e;
    }
    if (bytes.length !== want.bytes) {
      throw new Error(`Checkpoint in ${dir} is inconsistent: ${want.name} has ${bytes.length} bytes, ${CHECKPOINT_FILES.json} lists ${want.bytes}`);
    }
    const hash = sha256(bytes);
    if (hash !== want.sha256) {
      throw new Error(
        `Checkpoint in ${dir} is corrupt: the SHA-256 of ${want.name} differs from the one in ${CHECKPOINT_FILES.json} ` +
          `(${hash.slice(0, 12)}… on disk, ${want.sha256.slice(0, 12)}… listed; same size, ${bytes.length} bytes)`,
      );
    }
    return bytes;
  };

  const weights = await readListed(entry('model'));
  if (!weights) throw new Error(`Checkpoint ${jsonPath} lists no weights file`);
  const optimizer = await readListed(entry('optimizer'));
  return optimizer ? { weights, optimizer, json } : { weights, json };
}
