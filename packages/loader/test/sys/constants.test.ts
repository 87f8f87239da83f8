import { describe, expect, it } from 'vitest';
import {
  BPF_ATTACH_TYPE,
  BPF_CMD,
  BPF_FUNC,
  BPF_LINK_TYPE,
  BPF_MAP_TYPE,
  BPF_PROG_TYPE,
  PERF_COUNT_SW,
  PERF_RECORD,
  PERF_SAMPLE,
  PERF_TYPE,
  attachTypeName,
  bpfCmdName,
  helperName,
  linkTypeName,
  mapTypeName,
  progTypeName,
} from '../../src/sys/constants.js';
import { errnoInfo, errnoName } from '../../src/sys/errno.js';
import { parseCpuList } from '../../src/sys/ffi.js';

describe('sys constants', () => {
  it('has the uapi values of well-known entries', () => {
    expect(BPF_CMD.MAP_CREATE).toBe(0);
    expect(BPF_CMD.PROG_LOAD).toBe(5);
    expect(BPF_CMD.PROG_RUN).toBe(BPF_CMD.PROG_TEST_RUN);
    expect(BPF_CMD.LINK_CREATE).toBe(28);
    expect(BPF_MAP_TYPE.HASH).toBe(1);
    expect(BPF_MAP_TYPE.RINGBUF).toBe(27);
    expect(BPF_PROG_TYPE.SOCKET_FILTER).toBe(1);
    expect(BPF_PROG_TYPE.TRACING).toBe(26);
    expect(BPF_PROG_TYPE.SYSCALL).toBe(31);
    expect(BPF_ATTACH_TYPE.TRACE_RAW_TP).toBe(23);
    expect(BPF_ATTACH_TYPE.PERF_EVENT).toBe(41);
    expect(BPF_LINK_TYPE.PERF_EVENT).toBe(7);
    expect(PERF_TYPE.SOFTWARE).toBe(1);
    expect(PERF_COUNT_SW.BPF_OUTPUT).toBe(10);
    expect(PERF_SAMPLE.RAW).toBe(1 << 10);
    expect(PERF_RECORD.SAMPLE).toBe(9);
    expect(PERF_RECORD.LOST).toBe(2);
  });

  it('lists every helper of the header in order, without gaps', () => {
    expect(BPF_FUNC.unspec).toBe(0);
    expect(BPF_FUNC.map_lookup_elem).toBe(1);
    expect(BPF_FUNC.map_update_elem).toBe(2);
    expect(BPF_FUNC.trace_printk).toBe(6);
    expect(BPF_FUNC.perf_event_output).toBe(25);
    expect(BPF_FUNC.get_current_task_btf).toBe(158);
    expect(BPF_FUNC.ringbuf_output).toBe(130);
    expect(BPF_FUNC.user_ringbuf_drain).toBe(209);
    const ids = Object.values(BPF_FUNC).sort((a, b) => a - b);
    expect(ids.length).toBeGreaterThanOrEqual(210);
    ids.forEach((id, i) => expect(id).toBe(i));
  });

  it('names values back', () => {
    expect(mapTypeName(2)).toBe('BPF_MAP_TYPE_ARRAY');
    expect(progTypeName(1)).toBe('BPF_PROG_TYPE_SOCKET_FILTER');
    expect(attachTypeName(23)).toBe('BPF_TRACE_RAW_TP');
    expect(linkTypeName(1)).toBe('BPF_LINK_TYPE_RAW_TRACEPOINT');
    expect(helperName(1)).toBe('bpf_map_lookup_elem');
    expect(bpfCmdName(10)).toBe('BPF_PROG_TEST_RUN');
    expect(mapTypeName(99999)).toBeUndefined();
    expect(helperName(-1)).toBeUndefined();
  });

  it('names errnos', () => {
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(9)).toBe('EBADF');
    expect(errnoName(524)).toBe('ENOTSUPP');
    expect(errnoName(4242)).toBe('E4242');
    expect(errnoInfo(2).description).toMatch(/no such file/);
  });

  it('parses CPU lists', () => {
    expect(parseCpuList('0-3\n')).toEqual([0, 1, 2, 3]);
    expect(parseCpuList('0,2-4,7')).toEqual([0, 2, 3, 4, 7]);
    expect(parseCpuList('0')).toEqual([0]);
    expect(() => parseCpuList('a-b')).toThrow(/cannot parse CPU list/);
  });
});
