// A restricted unpickler: the binary opcodes of pickle protocols 1-5 over plain data (numbers, strings, bytes,
// tuples and lists as arrays, dicts as Maps, sets). Globals, calls and persistent ids go through hooks, which
// decide what is allowed; nothing named in a pickle is ever looked up or run by this module itself.

export class PickleError extends Error {}

/** A global the hooks allowed; `call` makes it usable by REDUCE / NEWOBJ. */
export interface PyGlobal {
  readonly module: string;
  readonly name: string;
  call?(args: unknown[]): unknown;
}

export interface UnpickleHooks {
  /** The object that `module.name` stands for; throws when it is not allowed. */
  global(module: string, name: string): PyGlobal;
  /** The object a persistent id (BINPERSID) stands for. */
  persistentLoad(pid: unknown): unknown;
  /** BUILD: applies `state` to `obj`; throws when that is not allowed. */
  build(obj: unknown, state: unknown): void;
}

const MARK = Symbol("mark");

export function unpickle(data: Uint8Array, hooks: UnpickleHooks): unknown {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const memo = new Map<number, unknown>();
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  let pos = 0;
  let at = 0;
  const fail = (what: string) => new PickleError(`${what} (opcode at byte ${at})`);

  const need = (n: number) => {
    if (pos + n > buf.length) throw fail("truncated pickle");
    const p = pos;
    pos += n;
    return p;
  };
  const u8 = () => buf[need(1)];
  const u16 = () => buf.readUInt16LE(need(2));
  const u32 = () => buf.readUInt32LE(need(4));
  const u64 = () => {
    const v = buf.readBigUInt64LE(need(8));
    if (v > BigInt(buf.length)) throw fail(`length ${v} runs past the pickle's end`);
    return Number(v);
  };
  const bytes = (n: number) => {
    const p = need(n);
    return buf.subarray(p, p + n);
  };
  const utf8 = (n: number) => bytes(n).toString("utf8");
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw fail("truncated pickle");
    const s = buf.toString("utf8", pos, end);
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) throw fail("bad pickle: stack underflow");
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw fail("bad pickle: stack underflow");
    return stack[stack.length - 1];
  };
  // After popMark, `stack` is another array: push through this, never `stack.push(popMark())`.
  const push = (v: unknown) => stack.push(v);
  const popMark = () => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) throw fail("bad pickle: no mark");
    stack = prev;
    return items;
  };
  const asMap = (v: unknown) => {
    if (!(v instanceof Map)) throw fail("bad pickle: setting items on a non-dict");
    return v;
  };
  const asList = (v: unknown) => {
    if (!Array.isArray(v)) throw fail("bad pickle: appending to a non-list");
    return v;
  };
  const asSet = (v: unknown) => {
    if (!(v instanceof Set)) throw fail("bad pickle: adding items to a non-set");
    return v;
  };
  const setItems = (d: Map<unknown, unknown>, kv: unknown[]) => {
    if (kv.length % 2) throw fail("bad pickle: odd number of dict items");
    for (let i = 0; i < kv.length; i += 2) d.set(kv[i], kv[i + 1]);
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw fail(`bad pickle: memo key ${i} not set`);
    return memo.get(i);
  };
  const call = (fn: unknown, args: unknown) => {
    if (!Array.isArray(args)) throw fail("bad pickle: call arguments are not a tuple");
    const g = fn as PyGlobal | undefined;
    if (!g?.call) throw fail(`bad pickle: ${g?.module ? `${g.module}.${g.name}` : "a value"} is not callable here`);
    return g.call(args);
  };
  const signed = (b: Buffer) => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    at = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) throw fail(`unsupported pickle protocol ${v}`);
        break;
      }
      case 0x95: u64(); break; // FRAME: framing only
      case 0x2e: return pop(); // STOP
      case 0x28: marks.push(stack); stack = []; break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(buf.readInt32LE(need(4))); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(signed(bytes(u8()))); break; // LONG1
      case 0x8b: stack.push(signed(bytes(u32()))); break; // LONG4
      case 0x47: stack.push(buf.readDoubleBE(need(8))); break; // BINFLOAT
      case 0x58: stack.push(utf8(u32())); break; // BINUNICODE
      case 0x8c: stack.push(utf8(u8())); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8(u64())); break; // BINUNICODE8
      case 0x54: stack.push(bytes(u32())); break; // BINSTRING (py2 str, as bytes)
      case 0x55: stack.push(bytes(u8())); break; // SHORT_BINSTRING
      case 0x42: stack.push(bytes(u32())); break; // BINBYTES
      case 0x43: stack.push(bytes(u8())); break; // SHORT_BINBYTES
      case 0x8e: stack.push(bytes(u64())); break; // BINBYTES8
      case 0x96: stack.push(Buffer.from(bytes(u64()))); break; // BYTEARRAY8
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x74: push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: push(popMark()); break; // LIST
      case 0x61: { const v = pop(); asList(top()).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); asList(top()).push(...items); break; } // APPENDS
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { const d = new Map(); setItems(d, popMark()); stack.push(d); break; } // DICT
      case 0x73: { const v = pop(), k = pop(); asMap(top()).set(k, v); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(asMap(top()), kv); break; } // SETITEMS
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); const s = asSet(top()); for (const i of items) s.add(i); break; } // ADDITEMS
      case 0x91: push(new Set(popMark())); break; // FROZENSET
      case 0x68: stack.push(memoGet(u8())); break; // BINGET
      case 0x6a: stack.push(memoGet(u32())); break; // LONG_BINGET
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x63: { const module = line(); stack.push(hooks.global(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw fail("bad pickle: STACK_GLOBAL of non-strings");
        stack.push(hooks.global(module, name));
        break;
      }
      case 0x52: { const args = pop(); stack.push(call(pop(), args)); break; } // REDUCE
      case 0x81: { const args = pop(); stack.push(call(pop(), args)); break; } // NEWOBJ
      case 0x62: { const state = pop(); hooks.build(top(), state); break; } // BUILD
      case 0x51: stack.push(hooks.persistentLoad(pop())); break; // BINPERSID
      default: {
        const name = UNSUPPORTED[op];
        throw fail(name ? `unsupported pickle opcode ${name}` : `bad pickle: unknown opcode 0x${op.toString(16).padStart(2, "0")}`);
      }
    }
  }
}

/** Opcodes that exist but that a torch state dict never needs (text forms, extension registry, class instantiation). */
const UNSUPPORTED: Record<number, string> = {
  0x46: "FLOAT", 0x49: "INT", 0x4c: "LONG", 0x53: "STRING", 0x56: "UNICODE", 0x50: "PERSID", 0x67: "GET", 0x70: "PUT",
  0x69: "INST", 0x6f: "OBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x92: "NEWOBJ_EX", 0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};
