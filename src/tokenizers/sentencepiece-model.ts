// Reads a sentencepiece ModelProto (`*.model`) with protobufjs and a minimal schema of the fields we use
// (field numbers from sentencepiece's sentencepiece_model.proto; unknown fields are skipped).
import { readFileSync } from "node:fs";
import protobuf from "protobufjs";

export type PieceType = "NORMAL" | "UNKNOWN" | "CONTROL" | "USER_DEFINED" | "UNUSED" | "BYTE";

export interface SentencePiece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface NormalizerSpec {
  name: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface SentencePieceModel {
  pieces: SentencePiece[];
  modelType: "UNIGRAM" | "BPE" | "WORD" | "CHAR";
  byteFallback: boolean;
  treatWhitespaceAsSuffix: boolean;
  normalizer: NormalizerSpec;
}

const root = protobuf.Root.fromJSON({
  nested: {
    ModelProto: {
      fields: {
        pieces: { rule: "repeated", type: "SentencePiece", id: 1 },
        trainerSpec: { type: "TrainerSpec", id: 2 },
        normalizerSpec: { type: "NormalizerSpec", id: 3 },
      },
      nested: {
        SentencePiece: {
          fields: {
            piece: { type: "string", id: 1 },
            score: { type: "float", id: 2 },
            type: { type: "Type", id: 3, options: { default: "NORMAL" } },
          },
          nested: {
            Type: { values: { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } },
          },
        },
      },
    },
    TrainerSpec: {
      fields: {
        modelType: { type: "ModelType", id: 3, options: { default: "UNIGRAM" } },
        treatWhitespaceAsSuffix: { type: "bool", id: 24 },
        byteFallback: { type: "bool", id: 35 },
      },
      nested: { ModelType: { values: { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } } },
    },
    NormalizerSpec: {
      fields: {
        name: { type: "string", id: 1 },
        precompiledCharsmap: { type: "bytes", id: 2 },
        addDummyPrefix: { type: "bool", id: 3, options: { default: true } },
        removeExtraWhitespaces: { type: "bool", id: 4, options: { default: true } },
        escapeWhitespaces: { type: "bool", id: 5, options: { default: true } },
      },
    },
  },
});

const ModelProto = root.lookupType("ModelProto");
const TrainerSpec = root.lookupType("TrainerSpec");
const NormalizerSpecType = root.lookupType("NormalizerSpec");
const asObject = { enums: String, defaults: true } as const;

export function decodeSentencePieceModel(bytes: Uint8Array, source = "sentencepiece model"): SentencePieceModel {
  let proto: Record<string, any>;
  try {
    proto = ModelProto.toObject(ModelProto.decode(bytes), asObject);
  } catch (e) {
    throw new Error(`${source}: not a sentencepiece ModelProto (${(e as Error).message})`);
  }
  if (proto.pieces.length === 0) throw new Error(`${source}: the model has no pieces`);
  // Absent sub-messages read as their defaults, as in the C++ library.
  const trainer = proto.trainerSpec ?? TrainerSpec.toObject(TrainerSpec.create(), asObject);
  const normalizer = proto.normalizerSpec ?? NormalizerSpecType.toObject(NormalizerSpecType.create(), asObject);
  return {
    pieces: proto.pieces,
    modelType: trainer.modelType,
    byteFallback: trainer.byteFallback,
    treatWhitespaceAsSuffix: trainer.treatWhitespaceAsSuffix,
    normalizer: { ...normalizer, precompiledCharsmap: new Uint8Array(normalizer.precompiledCharsmap) },
  };
}

export function readSentencePieceModel(path: string): SentencePieceModel {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read sentencepiece model ${path}: ${(e as Error).message}`);
  }
  return decodeSentencePieceModel(bytes, path);
}
