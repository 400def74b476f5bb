// The interface the pipelines use, and the framing every tokenizer shares: prefix + content + suffix, truncated and
// right-padded as transformers' `tokenizer(text, padding="max_length", max_length=L, truncation=True)` does.
import {
  splitOnSpecialTokens, splitTokens, type SpecialAttribute, type SpecialToken, type SpecialTokens,
} from "./special-tokens.js";

export interface Encoding {
  inputIds: number[];
  /** 1 for the start, content and end tokens, 0 for padding. */
  attentionMask: number[];
  /** Length with start and end tokens before truncation (what the pipelines compare to warn about truncation). */
  untruncatedLength: number;
}

export interface TextTokenizer {
  readonly kind: "clip" | "xlmr";
  /** tokenizer_config.json `model_max_length`; undefined when the file has none. */
  readonly modelMaxLength: number | undefined;
  readonly padId: number;
  /** The folder it was loaded from (for messages). */
  readonly source: string;
  /** Ids with the special tokens the tokenizer adds, neither truncated nor padded. */
  ids(text: string): number[];
  /** `prefix + content[:maxLength - added] + suffix`, right-padded with the pad id to maxLength. */
  encode(text: string, opts: { maxLength: number }): Encoding;
}

/** What a tokenizer puts around a text's ids (bos / eos, or a tokenizer.json's template), and how it pads. */
export interface Framing {
  prefix: number[];
  suffix: number[];
  padId: number;
  modelMaxLength: number | undefined;
  source: string;
}

export abstract class FramedTokenizer implements TextTokenizer {
  abstract readonly kind: "clip" | "xlmr";
  readonly modelMaxLength: number | undefined;
  readonly padId: number;
  readonly source: string;
  private readonly prefix: number[];
  private readonly suffix: number[];

  protected constructor(framing: Framing) {
    this.modelMaxLength = framing.modelMaxLength;
    this.padId = framing.padId;
    this.source = framing.source;
    this.prefix = framing.prefix;
    this.suffix = framing.suffix;
  }

  /** The ids of a text, without the framing. */
  protected abstract contentIds(text: string): number[];

  ids(text: string): number[] {
    return [...this.prefix, ...this.contentIds(text), ...this.suffix];
  }

  encode(text: string, { maxLength }: { maxLength: number }): Encoding {
    const added = this.prefix.length + this.suffix.length;
    if (!Number.isInteger(maxLength) || maxLength < added) {
      throw new Error(`maxLength must be an integer >= ${added} (room for the special tokens), got ${maxLength}`);
    }
    const content = this.contentIds(text);
    const inputIds = [...this.prefix, ...content.slice(0, maxLength - added), ...this.suffix];
    const attentionMask = inputIds.map(() => 1);
    while (inputIds.length < maxLength) {
      inputIds.push(this.padId);
      attentionMask.push(0);
    }
    return { inputIds, attentionMask, untruncatedLength: content.length + added };
  }
}

/** transformers' slow tokenizers: special tokens split out of the text first, the pieces between tokenized alone. */
export interface SlowFraming extends Framing {
  /** Kept whole in the text, with their ids. */
  specials: { token: SpecialToken; id: number }[];
}

export abstract class SlowTokenizer extends FramedTokenizer {
  private readonly specialTokens: SpecialToken[];
  private readonly specialIds: Map<string, number>;

  protected constructor(framing: SlowFraming) {
    super(framing);
    this.specialTokens = framing.specials.map((s) => s.token);
    this.specialIds = new Map(framing.specials.map((s) => [s.token.content, s.id]));
  }

  /** Ids of a piece of text that holds no special token. */
  protected abstract textIds(text: string): number[];

  protected contentIds(text: string): number[] {
    return splitOnSpecialTokens(text, this.specialTokens).flatMap((s) =>
      "special" in s ? [this.specialIds.get(s.special)!] : this.textIds(s.text),
    );
  }
}

/**
 * Resolves the framing ids of a slow tokenizer ([start] + content + [end]). Every special content must already be
 * in the vocabulary: transformers would append missing ones as new ids, which these tokenizers do not support.
 */
export function resolveFraming(
  specials: SpecialTokens,
  idOf: (content: string) => number | undefined,
  roles: { start: SpecialAttribute; end: SpecialAttribute },
  modelMaxLength: number | undefined,
  source: string,
): SlowFraming {
  const where = `tokenizer ${source}`;
  const id = (content: string) => {
    const v = idOf(content);
    if (v === undefined) throw new Error(`${where}: special token "${content}" is not in the vocabulary`);
    return v;
  };
  const named = (attr: SpecialAttribute) => {
    const tok = specials.named[attr];
    if (!tok) throw new Error(`${where}: no ${attr} configured`);
    return id(tok.content);
  };
  return {
    specials: splitTokens(specials).map((token) => ({ token, id: id(token.content) })),
    prefix: [named(roles.start)],
    suffix: [named(roles.end)],
    padId: named("pad_token"),
    modelMaxLength,
    source,
  };
}
