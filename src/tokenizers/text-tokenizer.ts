// The interface the pipelines use, and the framing both tokenizers share: special-token splitting, then
// [start] + content + [end], truncated and right-padded as transformers' `tokenizer(text, padding="max_length",
// max_length=L, truncation=True)` does.
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
  /** tokenizer_config.json `model_max_length`. */
  readonly modelMaxLength: number;
  readonly padId: number;
  /** Ids with the start and end tokens, neither truncated nor padded. */
  ids(text: string): number[];
  /** `[start] + content[:maxLength-2] + [end]`, right-padded with the pad id to maxLength. */
  encode(text: string, opts: { maxLength: number }): Encoding;
}

export interface Framing {
  /** Kept whole in the text, with their ids. */
  specials: { token: SpecialToken; id: number }[];
  startId: number;
  endId: number;
  padId: number;
  modelMaxLength: number;
}

export abstract class FramedTokenizer implements TextTokenizer {
  abstract readonly kind: "clip" | "xlmr";
  readonly modelMaxLength: number;
  readonly padId: number;
  private readonly startId: number;
  private readonly endId: number;
  private readonly specialTokens: SpecialToken[];
  private readonly specialIds: Map<string, number>;

  protected constructor(framing: Framing) {
    this.modelMaxLength = framing.modelMaxLength;
    this.padId = framing.padId;
    this.startId = framing.startId;
    this.endId = framing.endId;
    this.specialTokens = framing.specials.map((s) => s.token);
    this.specialIds = new Map(framing.specials.map((s) => [s.token.content, s.id]));
  }

  /** Ids of a piece of text that holds no special token. */
  protected abstract textIds(text: string): number[];

  private contentIds(text: string): number[] {
    return splitOnSpecialTokens(text, this.specialTokens).flatMap((s) =>
      "special" in s ? [this.specialIds.get(s.special)!] : this.textIds(s.text),
    );
  }

  ids(text: string): number[] {
    return [this.startId, ...this.contentIds(text), this.endId];
  }

  encode(text: string, { maxLength }: { maxLength: number }): Encoding {
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new Error(`maxLength must be an integer >= 2 (room for the start and end tokens), got ${maxLength}`);
    }
    const content = this.contentIds(text);
    const inputIds = [this.startId, ...content.slice(0, maxLength - 2), this.endId];
    const attentionMask = inputIds.map(() => 1);
    while (inputIds.length < maxLength) {
      inputIds.push(this.padId);
      attentionMask.push(0);
    }
    return { inputIds, attentionMask, untruncatedLength: content.length + 2 };
  }
}

/**
 * Resolves the framing ids. Every special content must already be in the vocabulary: transformers would append
 * missing ones as new ids, which these tokenizers do not support.
 */
export function resolveFraming(
  specials: SpecialTokens,
  idOf: (content: string) => number | undefined,
  roles: { start: SpecialAttribute; end: SpecialAttribute },
  modelMaxLength: number,
  where: string,
): Framing {
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
    startId: named(roles.start),
    endId: named(roles.end),
    padId: named("pad_token"),
    modelMaxLength,
  };
}
