/**
 * Event decoding for gadgets: bytes of an event struct → the object users see.
 * The struct decoder is compiled once from BTF (btf/codec.ts); then, per field descriptor
 * (gadget/fields.ts), members whose type carries a `gadget_*` typedef are formatted and renamed
 * by Inspektor Gadget's conventions (`cap_raw` → `cap`, `syscall_raw` → `syscall` with its name,
 * timestamps as wall-clock time, stacks symbolized, `_set` enums as `A|B`). The per-event work is a
 * flat list of precompiled steps; nothing is looked up by name on the hot path.
 */
import type { Btf } from '../btf/btf.js';
import { compileDecoder, type Decoder } from '../btf/codec.js';
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

type Formatter = (value: unknown, event: GadgetEvent) => unknown;

interface Step {
  /** Keys from the event root to the object holding the member. */
  parent: readonly string[];
  rawKey: string;
  displayKey: string;
  format: Formatter;
}

/** Decodes one gadget event struct. Build once per tracer, call `decode` per record. */
export class EventDecoder {
  /** The flattened field descriptors of the event struct. */
  readonly fields: readonly FieldDescriptor[];
  private readonly raw: Decoder;
  private readonly steps: readonly Step[];
  private readonly keepRaw: boolean;
  private readonly renames: ReadonlyMap<string, string>;
  private readonly pidField: { offset: number; size: number } | undefined;

  constructor(btf: Btf, structTypeId: number, options: EventDecoderOptions = {}) {
    this.fields = describeEventType(btf, structTypeId);
    this.raw = compileDecoder(btf, structTypeId, { stripSetPrefix: true });
    this.keepRaw = options.keepRaw ?? false;
    const bootToRealtimeNs = clockGettime(CLOCK.REALTIME) - clockGettime(CLOCK.BOOTTIME);
    const pidDescriptor = this.fields.find((f) => f.enrichment === 'pid');
    const pidPath = pidDescriptor?.path.split('.');
    this.pidField = pidDescriptor && !pidDescriptor.bitfield && (pidDescriptor.size === 4 || pidDescriptor.size === 8) ? { offset: pidDescriptor.offset, size: pidDescriptor.size } : undefined;
    const symbolize = options.symbolize ?? true;
    const steps: Step[] = [];
    for (const f of this.fields) {
      // Bit-set enums always print as `A|B`, whatever the member is called.
      const field = f.kind === 'enum_set' && !f.formatter ? { ...f, formatter: 'enum_set' as const } : f;
      const format = formatterFor(field, { bootToRealtimeNs, pidPath, symbolize, kernelStackMap: options.kernelStackMap, userStackMap: options.userStackMap });
      if (!format) continue;
      const parts = f.path.split('.');
      const displayParts = f.displayPath.split('.');
      steps.push({ parent: parts.slice(0, -1), rawKey: parts[parts.length - 1], displayKey: displayParts[displayParts.length - 1], format });
    }
    this.steps = steps;
    this.renames = new Map(steps.filter((st) => st.rawKey !== st.displayKey).map((st) => [st.rawKey, st.displayKey]));
  }

  /**
   * The process id of a record (the member typed `gadget_pid`), read without decoding anything
   * else; undefined when the event has none. Filters run on this before `decode`, which may make
   * syscalls (stack map lookups) that must not be spent on records about to be dropped.
   */
  pidOf(view: DataView): number | undefined {
    const f = this.pidField;
    if (!f || view.byteLength < f.offset + f.size) return undefined;
    return f.size === 4 ? view.getUint32(f.offset, true) : Number(view.getBigUint64(f.offset, true));
  }

  /** C member names and codec values, no formatting. The view is only read during the call. */
  decodeRaw(view: DataView): GadgetEvent {
    return this.raw(view, 0) as GadgetEvent;
  }

  /** The display object of one record. The view is only read during the call. */
  decode(view: DataView): GadgetEvent {
    const event = this.raw(view, 0) as GadgetEvent;
    const renamed = new Set<Record<string, unknown>>();
    for (const s of this.steps) {
      let holder: Record<string, unknown> = event;
      for (const k of s.parent) holder = holder[k] as Record<string, unknown>;
      holder[s.displayKey] = s.format(holder[s.rawKey], event);
      if (s.rawKey !== s.displayKey) renamed.add(holder);
    }
    // Renamed members keep their place in C member order; raw members go unless asked for.
    for (const holder of renamed) reorder(holder, this.renames, this.keepRaw);
    return event;
  }
}

interface FormatContext {
  bootToRealtimeNs: bigint;
  pidPath: string[] | undefined;
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
      const pidPath = ctx.pidPath;
      return (v, event) => {
        if (!map || typeof v !== 'number' || v < 0) return [];
        const ips = readStack(map.fd, v);
        const pid = pidPath ? Number(pathValue(event, pidPath)) : NaN;
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

/** Rebuild `holder` in member order with each raw key replaced by its display key. */
function reorder(holder: Record<string, unknown>, renames: ReadonlyMap<string, string>, keepRaw: boolean): void {
  const entries = Object.entries(holder);
  for (const k of Object.keys(holder)) delete holder[k];
  const displayKeys = new Set(renames.values());
  for (const [k, v] of entries) {
    const display = renames.get(k);
    if (display !== undefined) {
      if (keepRaw) holder[k] = v;
      holder[display] = entries.find(([e]) => e === display)?.[1];
    } else if (!displayKeys.has(k)) {
      holder[k] = v;
    }
  }
}

function pathValue(event: GadgetEvent, path: readonly string[]): unknown {
  let cur: unknown = event;
  for (const k of path) cur = (cur as Record<string, unknown> | undefined)?.[k];
  return cur;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** ISO-8601 with nanoseconds: `2026-11-24T07:53:01.123456789Z`. */
export function wallClock(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}
