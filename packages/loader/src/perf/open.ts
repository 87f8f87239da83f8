/**
 * One entry point for "read the events of this map", whichever buffer kind the object uses, so a gadget
 * can switch between a BPF ring buffer and a perf buffer without branching.
 */
import { BPF_MAP_TYPE, mapTypeName, type Fd } from '../sys/index.js';
import { RingBufReader, type EventReader, type RingBufReaderOptions } from '../ringbuf/index.js';
import { PerfReader, PerfReaderError, type PerfReaderOptions } from './reader.js';

/** A map that holds events: a RINGBUF or a PERF_EVENT_ARRAY. */
export interface EventMap {
  readonly fd: Fd;
  /** `BPF_MAP_TYPE_*`. */
  readonly type: number;
  readonly maxEntries: number;
  readonly name?: string;
}

/** Open the right {@link EventReader} for `map`. Options that do not apply to its kind are ignored. */
export function openEventReader(map: EventMap, options: RingBufReaderOptions & PerfReaderOptions = {}): EventReader {
  if (map.type === BPF_MAP_TYPE.RINGBUF) return new RingBufReader(map, { pollTimeoutMs: options.pollTimeoutMs, batchSize: options.batchSize });
  if (map.type === BPF_MAP_TYPE.PERF_EVENT_ARRAY) return new PerfReader(map, options);
  throw new PerfReaderError(`map ${map.name ?? ''} is a ${mapTypeName(map.type) ?? map.type}, not a RINGBUF or PERF_EVENT_ARRAY: no events to read`.replace('map  is', 'map is'));
}
