/**
 * A small, strict command-line parser for the train/sample scripts. Strict because a typo such as
 * `--lerning-rate 1e-3` silently ignored costs a whole training run.
 *
 *   --block-size 64   --block-size=64   --blockSize 64   (spec keys are camelCase; both spellings work)
 *   --compile  --no-compile  --compile=false           (booleans never consume the next argument)
 */

export type ArgType = 'string' | 'number' | 'int' | 'boolean';

export interface ArgSpec {
  type: ArgType;
  default?: string | number | boolean;
  help: string;
}

export type ArgsSpec = Record<string, ArgSpec>;

type ValueOf<T extends ArgType> = T extends 'string' ? string : T extends 'boolean' ? boolean : number;

/** Flags with a default (and booleans, which default to false) are always present. */
export type ParsedArgs<S extends ArgsSpec> = {
  [K in keyof S]: S[K] extends { default: string | number | boolean }
    ? ValueOf<S[K]['type']>
    : S[K]['type'] extends 'boolean'
      ? boolean
      : ValueOf<S[K]['type']> | undefined;
};

export class UsageError extends Error {
  /** True when the user asked for --help; the message is then the usage text. */
  constructor(
    message: string,
    readonly help = false,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function validFlags(spec: ArgsSpec): string {
  return `Valid flags: ${Object.keys(spec).map((k) => `--${kebab(k)}`).join(', ')}, --help`;
}

function convert(key: string, type: ArgType, raw: string, spec: ArgsSpec): string | number | boolean {
  const bad = (what: string) => new UsageError(`--${kebab(key)} expects ${what}, got ${JSON.stringify(raw)}. ${validFlags(spec)}`);
  switch (type) {
    case 'string':
      return raw;
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      throw bad('true or false');
    case 'number':
    case 'int': {
      // Number('') is 0, Number(' 1') is 1 and Number('0x10') is 16 (--steps 0x10 trained 16
      // steps): only decimal notation (1, -2.5, 3e-4) reaches Number()
      const v = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? Number(raw) : NaN;
      if (!Number.isFinite(v)) throw bad(type === 'int' ? 'an integer' : 'a number');
      if (type === 'int' && !Number.isSafeInteger(v)) throw bad('an integer');
      return v;
    }
  }
}

/** A value that starts with '-' is a flag, unless it is a negative number (`--lr -1e-3`). */
const looksLikeFlag = (s: string) => s.startsWith('-') && Number.isNaN(Number(s));

export function parseArgs<const S extends ArgsSpec>(spec: S, argv: readonly string[] = process.argv.slice(2)): ParsedArgs<S> {
  const byFlag = new Map<string, string>();
  for (const key of Object.keys(spec)) {
    byFlag.set(key, key);
    byFlag.set(kebab(key), key);
  }
  const out: Record<string, string | number | boolean | undefined> = {};
  const seen = new Set<string>();

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') throw new UsageError(usage(spec), true);
    if (!arg.startsWith('--') || arg === '--') {
      throw new UsageError(`Unexpected argument ${JSON.stringify(arg)}: only --flags are accepted. ${validFlags(spec)}`);
    }
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let inline = eq === -1 ? undefined : arg.slice(eq + 1);

    let key = byFlag.get(name);
    if (key === undefined && name.startsWith('no-') && inline === undefined) {
      const positive = byFlag.get(name.slice(3));
      if (positive !== undefined && spec[positive].type === 'boolean') {
        key = positive;
        name = name.slice(3);
        inline = 'false';
      }
    }
    if (key === undefined) throw new UsageError(`Unknown flag --${name}. ${validFlags(spec)}`);
    if (seen.has(key)) throw new UsageError(`--${kebab(key)} is given more than once. ${validFlags(spec)}`);
    seen.add(key);

    const { type } = spec[key];
    let raw = inline;
    if (raw === undefined) {
      if (type === 'boolean') raw = 'true';
      else if (i + 1 < argv.length && !looksLikeFlag(argv[i + 1])) raw = argv[++i];
      else throw new UsageError(`--${kebab(key)} is missing its value (${type}). ${validFlags(spec)}`);
    }
    out[key] = convert(key, type, raw, spec);
  }

  for (const [key, { type, default: dflt }] of Object.entries(spec)) {
    if (key in out) continue;
    out[key] = dflt ?? (type === 'boolean' ? false : undefined);
  }
  return out as ParsedArgs<S>;
}

/** Help text: one line per flag with its type, default and description. */
export function usage(spec: ArgsSpec, command?: string): string {
  const rows = Object.entries(spec).map(([key, { type, default: dflt, help }]) => {
    const left = `--${kebab(key)}${type === 'boolean' ? '' : ` <${type}>`}`;
    const right = dflt === undefined ? help : `${help} (default: ${JSON.stringify(dflt)})`;
    return [left, right] as const;
  });
  rows.push(['--help', 'show this help']);
  const pad = Math.max(...rows.map(([l]) => l.length)) + 2;
  const head = command ? `Usage: ${command} [flags]\n\nFlags:\n` : 'Flags:\n';
  return head + rows.map(([l, r]) => `  ${l.padEnd(pad)}${r}`).join('\n') + '\n';
}
