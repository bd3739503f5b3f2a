/**
 * Tokenizers: text ⇄ token ids. Two kinds, both serialisable into a checkpoint so that sampling
 * from a saved model uses exactly the vocabulary it was trained with.
 *
 * - `char`: one token per Unicode code point, vocabulary = the sorted set of characters in the
 *   training text (as nanoGPT's shakespeare_char). Tiny embedding table, fine for a toy GPT.
 * - `gpt2`: GPT-2's byte-level BPE (tiktoken's r50k_base, 50257 tokens). The merge table ships
 *   inside `gpt-tokenizer`, so nothing is downloaded at run time.
 */
import { decode as r50kDecode, encode as r50kEncode, vocabularySize as r50kVocabSize } from 'gpt-tokenizer/encoding/r50k_base';

export interface Tokenizer {
  kind: 'char' | 'gpt2';
  vocabSize: number;
  encode(s: string): number[];
  decode(ids: number[]): string;
  toJSON(): object;
}

/** Shown per error, so a binary file given as text does not print a megabyte of characters. */
const MAX_LISTED_UNKNOWN = 20;

function checkIds(ids: number[], vocabSize: number, kind: string): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`${kind} tokenizer: token id ${id} is outside the vocabulary [0, ${vocabSize})`);
    }
  }
}

export class CharTokenizer implements Tokenizer {
  readonly kind = 'char' as const;
  readonly vocabSize: number;
  private readonly index: Map<string, number>;

  /** `chars` are the vocabulary in id order: one code point each, no duplicates. */
  constructor(readonly chars: readonly string[]) {
    this.index = new Map();
    for (const c of chars) {
      if ([...c].length !== 1) throw new Error(`CharTokenizer: vocabulary entry ${JSON.stringify(c)} is not one character`);
      if (this.index.has(c)) throw new Error(`CharTokenizer: duplicate vocabulary entry ${JSON.stringify(c)}`);
      this.index.set(c, this.index.size);
    }
    this.vocabSize = chars.length;
  }

  static fromText(text: string): CharTokenizer {
    if (text.length === 0) throw new Error('CharTokenizer.fromText: the text is empty, so there is no vocabulary');
    // Sort by code point, as Python's sorted(set(text)) does; JS's default sort compares UTF-16
    // units, which orders astral characters differently.
    const chars = [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    return new CharTokenizer(chars);
  }

  encode(s: string): number[] {
    const ids: number[] = [];
    let unknown: Set<string> | undefined;
    for (const c of s) {
      const id = this.index.get(c);
      if (id === undefined) (unknown ??= new Set()).add(c);
      else ids.push(id);
    }
    if (unknown) {
      const listed = [...unknown].slice(0, MAX_LISTED_UNKNOWN).map((c) => JSON.stringify(c));
      const more = unknown.size > MAX_LISTED_UNKNOWN ? `, … (${unknown.size - MAX_LISTED_UNKNOWN} more)` : '';
      throw new Error(
        `CharTokenizer: ${unknown.size} character(s) not in the vocabulary of ${this.vocabSize}: ${listed.join(', ')}${more}`,
      );
    }
    return ids;
  }

  decode(ids: number[]): string {
    checkIds(ids, this.vocabSize, 'char');
    let out = '';
    for (const id of ids) out += this.chars[id];
    return out;
  }

  toJSON(): { kind: 'char'; chars: string[] } {
    return { kind: 'char', chars: [...this.chars] };
  }
}

export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2' as const;
  readonly vocabSize: number = r50kVocabSize;
  /** `<|endoftext|>`, the separator GPT-2 puts between documents. */
  readonly eotToken = 50256;

  encode(s: string): number[] {
    // Training text is plain text: a literal "<|endoftext|>" in it is encoded as ordinary
    // characters rather than throwing (gpt-tokenizer's default) or becoming the special token.
    return r50kEncode(s, { disallowedSpecial: new Set() });
  }

  decode(ids: number[]): string {
    checkIds(ids, this.vocabSize, 'gpt2');
    return r50kDecode(ids);
  }

  toJSON(): { kind: 'gpt2'; encoding: 'r50k_base' } {
    return { kind: 'gpt2', encoding: 'r50k_base' };
  }
}

/** Rebuilds a tokenizer from its `toJSON()` (as stored in checkpoint.json). */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const o = json as { kind?: unknown; chars?: unknown; encoding?: unknown } | null;
  if (typeof o !== 'object' || o === null) throw new Error('tokenizerFromJSON: expected an object');
  if (o.kind === 'char') {
    if (!Array.isArray(o.chars) || !o.chars.every((c) => typeof c === 'string')) {
      throw new Error('tokenizerFromJSON: a char tokenizer needs "chars", an array of strings');
    }
    return new CharTokenizer(o.chars);
  }
  if (o.kind === 'gpt2') {
    if (o.encoding !== undefined && o.encoding !== 'r50k_base') {
      throw new Error(`tokenizerFromJSON: unsupported gpt2 encoding ${JSON.stringify(o.encoding)} (only r50k_base)`);
    }
    return new Gpt2Tokenizer();
  }
  throw new Error(`tokenizerFromJSON: unknown tokenizer kind ${JSON.stringify(o.kind)} (expected "char" or "gpt2")`);
}
