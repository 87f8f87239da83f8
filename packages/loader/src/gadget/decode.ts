/**
 * Event decoding for gadgets: bytes of an event struct → the object users see.
 * The struct decoder is compiled once from BTF (btf/codec.ts); then, per field descriptor
 * (gadget/fields.ts), members whose type carries a `gadget_*` typedef are formatted and renamed
 * by Inspektor Gadget's conventions (`cap_raw` → `cap`, `syscall_raw` → `syscall` with its name,
 * timestamps as wall-clock time, stacks symbolized, `_set` enums as `A|B`). The per-event work is a
 * decoder compiled for the display object; nothing is looked up by name on the hot path.
 */
import type { Btf } from '../btf/btf.js';
import { compileDecoder, compileShapedDecoder, type Decoder, type MemberShape, type ShapedDecoder } from '../btf/codec.js';
import type { BpfMap } from '../maps/map.js';
import { CLOCK, clockGettime } from '../sys/ffi.js';
import { readStack, symbolizeKernelStack, symbolizeUserStack } from '../symbolize/stack.js';
import { capabilityName } from './tables/capabilities.js';
import { syscallName } from './tables/syscalls.js';
import { describeEventType, formatEnumSet, type FieldDescriptor } from './fields.js';

/** Options of {@link EventDecoder}. */
export interface EventDecoderOptions {
  /** STACK_TRACE map that `gadget_kernel_stack` ids index (`ig_kstack`). */
  kernelStackMap?: BpfMap;
  /** STACK_TRACE map that `gadget_user_stack` ids index (`ig_ustack`). */
  userStackMap?: BpfMap;
  /** Name stack frames (default true); false keeps hexadecimal addresses. */
  symbolize?: boolean;
  /** Keep the raw members too (`cap_raw` next to `cap`); default false. */
  keepRaw?: boolean;
}

/** A decoded event: nested plain objects with display names. */
export type GadgetEvent = Record<string, unknown>;

/** Derives a shown value from a member's decoded value; `pid` is the record's process id (NaN when unknown). */
type Formatter = (value: unknown, pid: number) => unknown;

/**
 * Decodes one gadget event struct. Build once per tracer, call `decode` per record.
 *
 * The display object is built in one go by a decoder compiled for it (btf/codec.ts
 * `compileShapedDecoder`): each formatted member is shown under its display key at its place in C
 * member order (after its raw key when `keepRaw`), a member whose name a sibling's display key takes
 * is left out, everything else is the codec's value. No second pass, no key deletes.
 */
export class EventDecoder {
  /** The flattened field descriptors of the event struct. */
  readonly fields: readonly FieldDescriptor[];
  private readonly raw: Decoder;
  private readonly display: ShapedDecoder<number>;
  private readonly pidField: { offset: number; size: number } | undefined;
  /** Only the user-stack formatter needs the pid; a pid it cannot read from the bytes comes from a raw decode. */
  private readonly pidForFormat: 'none' | 'bytes' | 'decode';
  private readonly pidPath: readonly string[] | undefined;

  constructor(btf: Btf, structTypeId: number, options: EventDecoderOptions = {}) {
    this.fields = describeEventType(btf, structTypeId);
    const codecOptions = { stripSetPrefix: true };
    this.raw = compileDecoder(btf, structTypeId, codecOptions);
    const keepRaw = options.keepRaw ?? false;
    const bootToRealtimeNs = clockGettime(CLOCK.REALTIME) - clockGettime(CLOCK.BOOTTIME);
    const pidDescriptor = this.fields.find((f) => f.enrichment === 'pid');
    this.pidPath = pidDescriptor?.path.split('.');
    this.pidField = pidDescriptor && !pidDescriptor.bitfield && (pidDescriptor.size === 4 || pidDescriptor.size === 8) ? { offset: pidDescriptor.offset, size: pidDescriptor.size } : undefined;
    const symbolize = options.symbolize ?? true;
    const shapes = new Map<string, MemberShape<number>>();
    /** Display keys of renamed members, per containing struct path: siblings of those names give way. */
    const taken = new Map<string, Set<string>>();
    let userStack = false;
    for (const f of this.fields) {
      // Bit-set enums always print as `A|B`, whatever the member is called.
      const field = f.kind === 'enum_set' && !f.formatter ? { ...f, formatter: 'enum_set' as const } : f;
      const format = formatterFor(field, { bootToRealtimeNs, symbolize, kernelStackMap: options.kernelStackMap, userStackMap: options.userStackMap });
      if (!format) continue;
      if (field.formatter === 'user_stack') userStack = true;
      const parts = f.path.split('.');
      const rawKey = parts[parts.length - 1];
      const displayParts = f.displayPath.split('.');
      const displayKey = displayParts[displayParts.length - 1];
      if (rawKey === displayKey) {
        const read = field.formatter === 'enum_set' ? enumSetText(btf, f) : undefined;
        shapes.set(f.path, read ? { keys: [{ key: rawKey }], read } : { keys: [{ key: rawKey, format }] });
        continue;
      }
      shapes.set(f.path, { keys: keepRaw ? [{ key: rawKey }, { key: displayKey, format }] : [{ key: displayKey, format }] });
      const parent = parts.slice(0, -1).join('.');
      const set = taken.get(parent) ?? new Set<string>();
      set.add(displayKey);
      taken.set(parent, set);
    }
    this.pidForFormat = !userStack ? 'none' : this.pidField ? 'bytes' : this.pidPath ? 'decode' : 'none';
    this.display = compileShapedDecoder<number>(btf, structTypeId, codecOptions, (path) => {
      const shape = shapes.get(path.join('.'));
      if (shape) return shape;
      return taken.get(path.slice(0, -1).join('.'))?.has(path[path.length - 1]) ? { keys: [] } : undefined;
    });
  }

  /**
   * The process id of a record (the member typed `gadget_pid`), read without decoding anything
   * else; undefined when the event has none. Filters run on this before `decode`, which may make
   * syscalls (stack map lookups) that must not be spent on records about to be dropped.
   */
  pidOf(view: DataView, offset = 0): number | undefined {
    const f = this.pidField;
    if (!f || !(offset >= 0) || view.byteLength < offset + f.offset + f.size) return undefined;
    return f.size === 4 ? view.getUint32(offset + f.offset, true) : Number(view.getBigUint64(offset + f.offset, true));
  }

  /** C member names and codec values, no formatting. The bytes are only read during the call. */
  decodeRaw(view: DataView, offset = 0): GadgetEvent {
    return this.raw(view, offset) as GadgetEvent;
  }

  /**
   * The display object of the record at `offset` of `view` (the form `readAvailableRaw` hands out).
   * The bytes are only read during the call.
   */
  decode(view: DataView, offset = 0): GadgetEvent {
    let pid = NaN;
    if (this.pidForFormat === 'bytes') pid = this.pidOf(view, offset) ?? NaN;
    else if (this.pidForFormat === 'decode' && this.pidPath) pid = Number(pathValue(this.raw(view, offset) as GadgetEvent, this.pidPath));
    return this.display(view, offset, pid) as GadgetEvent;
  }
}

interface FormatContext {
  bootToRealtimeNs: bigint;
  symbolize: boolean;
  kernelStackMap: BpfMap | undefined;
  userStackMap: BpfMap | undefined;
}

function formatterFor(f: FieldDescriptor, ctx: FormatContext): Formatter | undefined {
  switch (f.formatter) {
    case 'timestamp':
      return (v) => wallClock(BigInt(v as bigint | number) + ctx.bootToRealtimeNs);
    case 'syscall':
      return (v) => (BigInt.asIntN(64, BigInt(v as bigint | number)) < 0n ? '' : syscallName(v as bigint | number));
    case 'capability':
      return (v) => (typeof v === 'number' ? capabilityName(v) : v);
    case 'enum_set':
      return (v) => (Array.isArray(v) ? formatEnumSet(v) : v);
    case 'enum':
      return (v) => v;
    case 'kernel_stack': {
      const map = ctx.kernelStackMap;
      return (v) => {
        if (!map || typeof v !== 'number' || v < 0) return [];
        const ips = readStack(map.fd, v);
        if (!ctx.symbolize) return ips.map(hex);
        return symbolizeKernelStack(ips).map((s, i) => (s ? `${s.name}+0x${s.offset.toString(16)}${s.module ? ` [${s.module}]` : ''}` : hex(ips[i])));
      };
    }
    case 'user_stack': {
      const map = ctx.userStackMap;
      return (v, pid) => {
        if (!map || typeof v !== 'number' || v < 0) return [];
        const ips = readStack(map.fd, v);
        if (!ctx.symbolize || !Number.isInteger(pid) || pid <= 0) return ips.map(hex);
        try {
          return symbolizeUserStack(pid, ips).map((s, i) => (s?.name ? `${s.name}+0x${s.offset.toString(16)} (${s.path})` : hex(ips[i])));
        } catch {
          return ips.map(hex); // the process is gone: its maps can no longer be read
        }
      };
    }
    default:
      return undefined;
  }
}

/** Distinct set values whose text one enum-set member keeps (a workload has few; full: start over). */
const ENUM_SET_TEXTS = 1024;

/**
 * Reads an `_set` enum member straight to its `A|B` text, reusing the text of values seen before
 * (a root task's capability set names ~40 capabilities: naming and joining them per event was most
 * of the decode). Undefined for members it cannot read whole (bitfields, sizes other than 1–8 bytes).
 */
function enumSetText(btf: Btf, f: FieldDescriptor): ((view: DataView, offset: number) => unknown) | undefined {
  if (f.bitfield || ![1, 2, 4, 8].includes(f.size)) return undefined;
  const names = compileDecoder(btf, f.typeId, { stripSetPrefix: true });
  const size = f.size;
  const texts = new Map<number | string, string>();
  return (view, offset) => {
    const lo = size === 8 || size === 4 ? view.getUint32(offset, true) : size === 2 ? view.getUint16(offset, true) : view.getUint8(offset);
    const hi = size === 8 ? view.getUint32(offset + 4, true) : 0;
    // Exact as a number below 2^53; the rare wider value keys by its two words.
    const key = hi < 0x200000 ? hi * 4294967296 + lo : `${hi}:${lo}`;
    const known = texts.get(key);
    if (known !== undefined) return known;
    const decoded = names(view, offset);
    if (!Array.isArray(decoded)) return decoded;
    const text = formatEnumSet(decoded);
    if (texts.size >= ENUM_SET_TEXTS) texts.clear();
    texts.set(key, text);
    return text;
  };
}

function pathValue(event: GadgetEvent, path: readonly string[]): unknown {
  let cur: unknown = event;
  for (const k of path) cur = (cur as Record<string, unknown> | undefined)?.[k];
  return cur;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** The `YYYY-MM-DDTHH:MM:SS` prefix of the last second formatted: events of one second share it. */
let lastSecond = -1n;
let lastPrefix = '';

/** ISO-8601 with nanoseconds: `2026-11-24T07:53:01.123456789Z`. */
export function wallClock(ns: bigint): string {
  if (ns < 0n) {
    const iso = new Date(Number(ns / 1_000_000n)).toISOString();
    return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
  }
  const second = ns / 1_000_000_000n;
  if (second !== lastSecond) {
    lastPrefix = new Date(Number(second) * 1000).toISOString().slice(0, 19);
    lastSecond = second;
  }
  return `${lastPrefix}.${String(Number(ns - second * 1_000_000_000n)).padStart(9, '0')}Z`;
}
