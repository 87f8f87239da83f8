/**
 * `ringbuf`: the BPF ring buffer reader ({@link RingBufReader}) and the {@link EventReader} interface it
 * shares with the perf buffer reader, so consumers can switch buffers without code changes.
 */
export * from './event_reader.js';
export * from './reader.js';
