/**
 * tc programs through rtnetlink, for kernels without tcx (before 6.6): a `clsact` qdisc on the
 * interface and a direct-action `bpf` classifier (cls_bpf) on its ingress or egress hook, what
 * `tc qdisc add dev X clsact` + `tc filter add dev X ingress bpf direct-action fd N` do.
 *
 * Qdisc lifetime. libbpf leaves it to the caller: `bpf_tc_hook_create` adds the qdisc (EEXIST when it
 * is there) and `bpf_tc_hook_destroy` removes it with every filter on it, while `bpf_tc_detach`
 * removes one filter only. A {@link TcFilterLink} here removes its own filter, and removes the clsact
 * qdisc too only when this process created it, no other link of this process is on it, and no filter
 * (ours or anybody's) is left on either hook. A qdisc that was there before, or that someone else put
 * filters on meanwhile, stays. (The check and the delete are two requests: a filter added in between
 * goes with the qdisc; tc offers no atomic "delete if empty".)
 */
import { endianness } from 'node:os';
import {
  BPF_PROG_TYPE,
  NetlinkError,
  NetlinkSocket,
  NLM_F,
  nlAttrNested,
  nlAttrString,
  nlAttrU32,
  nlString,
  nlU32,
  parseNlAttrs,
  progInfo,
  progTypeName,
  type Fd,
  type NetlinkMessage,
} from '../sys/index.js';
import { AttachError, AttachNotSupportedError } from './errors.js';
import { errnoIs, runAll } from './internal.js';
import { type Link } from './link.js';
import { resolveInterface } from './xdp.js';
import { concatBytes } from '../bytes.js';

/** rtnetlink message types of traffic control. */
const RTM = { NEWQDISC: 36, DELQDISC: 37, GETQDISC: 38, NEWTFILTER: 44, DELTFILTER: 45, GETTFILTER: 46 } as const;
/** `TCA_*` attributes of qdisc and filter messages. */
const TCA = { KIND: 1, OPTIONS: 2 } as const;
/** `TCA_BPF_*` options of the cls_bpf classifier. */
const TCA_BPF = { FD: 6, NAME: 7, FLAGS: 8, ID: 11 } as const;
const TCA_BPF_FLAG_ACT_DIRECT = 1;
/** `TC_H_CLSACT`: the parent of the clsact qdisc (same value as TC_H_INGRESS). */
const TC_H_CLSACT = 0xfffffff1;
/** The clsact qdisc's own handle, `ffff:`. */
const CLSACT_HANDLE = 0xffff0000;
/** Filter parents on the clsact qdisc: `ffff:fff2` and `ffff:fff3`. */
const HOOK_PARENT = { ingress: 0xfffffff2, egress: 0xfffffff3 } as const;
const ETH_P_ALL = 0x0003;
/** sizeof(struct tcmsg). */
const TCMSG_SIZE = 20;

/** Runs `fn` with a netlink socket opened for it and closed after it (one socket per operation). */
function withSocket<T>(fn: (sock: NetlinkSocket) => T): T {
  const sock = NetlinkSocket.open();
  try {
    return fn(sock);
  } finally {
    sock.close();
  }
}

/** A tc hook of an interface. */
export type TcDirection = 'ingress' | 'egress';

/** The u16 protocol field of `tcm_info` is in network byte order, read as a host integer. */
function htons(v: number): number {
  return endianness() === 'LE' ? ((v & 0xff) << 8) | ((v >> 8) & 0xff) : v & 0xffff;
}

/** Encodes `struct tcmsg` (family AF_UNSPEC). */
function tcmsg(ifindex: number, handle: number, parent: number, info: number): Uint8Array {
  const b = new Uint8Array(TCMSG_SIZE);
  const dv = new DataView(b.buffer);
  dv.setInt32(4, ifindex, true);
  dv.setUint32(8, handle >>> 0, true);
  dv.setUint32(12, parent >>> 0, true);
  dv.setUint32(16, info >>> 0, true);
  return b;
}

interface TcObject {
  readonly ifindex: number;
  readonly handle: number;
  readonly parent: number;
  readonly info: number;
  readonly kind: string | undefined;
  readonly options: Uint8Array | undefined;
}

function parseTcObject(m: NetlinkMessage): TcObject | undefined {
  if (m.payload.byteLength < TCMSG_SIZE) return undefined;
  const dv = new DataView(m.payload.buffer, m.payload.byteOffset, TCMSG_SIZE);
  const attrs = parseNlAttrs(m.payload.subarray(TCMSG_SIZE));
  return {
    ifindex: dv.getInt32(4, true),
    handle: dv.getUint32(8, true),
    parent: dv.getUint32(12, true),
    info: dv.getUint32(16, true),
    kind: nlString(attrs.get(TCA.KIND)),
    options: attrs.get(TCA.OPTIONS),
  };
}

/** One tc filter, as {@link listTcFilters} reports it. */
export interface TcFilter {
  /** Filter handle (unique per priority and protocol). */
  readonly handle: number;
  /** Priority: lower runs first. */
  readonly priority: number;
  /** Ethernet protocol in host order (`ETH_P_ALL` = 3). */
  readonly protocol: number;
  /** Classifier kind, e.g. `bpf`, `matchall`. */
  readonly kind: string;
  /** cls_bpf: the name given at attach (`TCA_BPF_NAME`). */
  readonly name?: string;
  /** cls_bpf: the program's kernel id. */
  readonly programId?: number;
  /** cls_bpf: direct-action mode. */
  readonly directAction?: boolean;
}

/** One qdisc, as {@link listTcQdiscs} reports it. */
export interface TcQdisc {
  /** Qdisc kind, e.g. `clsact`, `noqueue`, `fq_codel`. */
  readonly kind: string;
  /** Its handle (`ffff0000` for clsact). */
  readonly handle: number;
  /** Its parent (`TC_H_CLSACT` = `fffffff1` for clsact, `ffffffff` for a root qdisc). */
  readonly parent: number;
}

function filtersOn(sock: NetlinkSocket, ifindex: number, direction: TcDirection): TcFilter[] {
  const parent = HOOK_PARENT[direction];
  const out: TcFilter[] = [];
  for (const m of sock.dump(RTM.GETTFILTER, tcmsg(ifindex, 0, parent, 0), 'RTM_GETTFILTER')) {
    const o = parseTcObject(m);
    // A dump lists, per priority, a header entry with handle 0 and then the filters themselves.
    if (!o || o.ifindex !== ifindex || o.parent !== parent || o.handle === 0 || o.kind === undefined) continue;
    const opts = o.kind === 'bpf' && o.options ? parseNlAttrs(o.options) : undefined;
    const flags = nlU32(opts?.get(TCA_BPF.FLAGS));
    out.push({
      handle: o.handle,
      priority: o.info >>> 16,
      protocol: htons(o.info & 0xffff),
      kind: o.kind,
      ...(opts
        ? {
            name: nlString(opts.get(TCA_BPF.NAME)),
            programId: nlU32(opts.get(TCA_BPF.ID)),
            directAction: flags !== undefined && (flags & TCA_BPF_FLAG_ACT_DIRECT) !== 0,
          }
        : {}),
    });
  }
  return out;
}

/** The filters on the `direction` hook of `iface`'s clsact qdisc (empty when there is no qdisc). */
export function listTcFilters(iface: number | string, direction: TcDirection): TcFilter[] {
  const ifindex = resolveInterface(iface);
  // Without a clsact qdisc the kernel answers the dump with nothing.
  return withSocket((sock) => {
    try {
      return filtersOn(sock, ifindex, direction);
    } catch (err) {
      throw tcError(err, `listing tc ${direction} filters of ${iface}`, ifindex, 'filter');
    }
  });
}

function qdiscsOn(sock: NetlinkSocket, ifindex: number): TcQdisc[] {
  const out: TcQdisc[] = [];
  for (const m of sock.dump(RTM.GETQDISC, tcmsg(ifindex, 0, 0, 0), 'RTM_GETQDISC')) {
    const o = parseTcObject(m);
    // Older kernels ignore the ifindex of a qdisc dump request and list every device's qdiscs.
    if (o && o.ifindex === ifindex && o.kind !== undefined) out.push({ kind: o.kind, handle: o.handle, parent: o.parent });
  }
  return out;
}

/** The qdiscs of `iface`. */
export function listTcQdiscs(iface: number | string): TcQdisc[] {
  const ifindex = resolveInterface(iface);
  return withSocket((sock) => {
    try {
      return qdiscsOn(sock, ifindex);
    } catch (err) {
      throw tcError(err, `listing the qdiscs of ${iface}`, ifindex, 'qdisc');
    }
  });
}

/**
 * Rewrites a netlink failure into an attach error that names the interface and the cause; a missing
 * qdisc or classifier kind is a kernel that lacks it (AttachNotSupportedError).
 */
function tcError(err: unknown, what: string, ifindex: number, object: 'qdisc' | 'filter'): unknown {
  if (!(err instanceof NetlinkError)) return err;
  switch (err.errnoName) {
    case 'ENODEV':
      return new AttachError(`${what}: network interface index ${ifindex} does not exist (ENODEV)`, { cause: err });
    case 'EPERM':
    case 'EACCES':
      return new AttachError(`${what}: ${err.errnoName}: needs CAP_NET_ADMIN in the interface's network namespace`, { cause: err });
    case 'ENOENT':
      if (object === 'qdisc' && /kind is unknown/i.test(err.extack ?? ''))
        return new AttachNotSupportedError(`${what}: this kernel has no clsact qdisc (CONFIG_NET_SCH_INGRESS): ${err.extack}`, { cause: err });
      if (object === 'filter' && /classifier not found/i.test(err.extack ?? ''))
        return new AttachNotSupportedError(`${what}: this kernel has no bpf classifier (CONFIG_NET_CLS_BPF): ${err.extack}`, { cause: err });
      break;
    case 'EOPNOTSUPP':
    case 'ENOTSUPP':
      return new AttachNotSupportedError(`${what}: ${err.message}`, { cause: err });
    default:
      break;
  }
  return new AttachError(`${what}: ${err.message}`, { cause: err });
}

/**
 * Links of this process on a clsact qdisc this process created, by ifindex. The qdisc goes when the
 * last of them closes (if no filter is left on it).
 */
const createdQdiscUsers = new Map<number, number>();

/** Adds the clsact qdisc; false when one is already there (EEXIST). */
function addClsact(sock: NetlinkSocket, ifindex: number): boolean {
  try {
    sock.request(RTM.NEWQDISC, NLM_F.CREATE | NLM_F.EXCL, concatBytes([tcmsg(ifindex, CLSACT_HANDLE, TC_H_CLSACT, 0), nlAttrString(TCA.KIND, 'clsact')]), 'RTM_NEWQDISC');
    return true;
  } catch (err) {
    if (errnoIs(err, 'EEXIST')) return false;
    throw err;
  }
}

/** Errors that mean "already gone": the device, the qdisc or the filter disappeared behind our back. */
function isGone(err: unknown): boolean {
  return errnoIs(err, 'ENODEV', 'ENOENT') || (errnoIs(err, 'EINVAL') && /parent qdisc doesn't exist|cannot find specified filter chain|find specified qdisc|invalid handle/i.test((err as NetlinkError).extack ?? ''));
}

/** Drops one user of a qdisc we created; deletes the qdisc when it was the last and no filter remains. */
function releaseQdisc(sock: NetlinkSocket, ifindex: number): void {
  const users = (createdQdiscUsers.get(ifindex) ?? 1) - 1;
  if (users > 0) {
    createdQdiscUsers.set(ifindex, users);
    return;
  }
  createdQdiscUsers.delete(ifindex);
  try {
    if (filtersOn(sock, ifindex, 'ingress').length > 0 || filtersOn(sock, ifindex, 'egress').length > 0) return;
    sock.request(RTM.DELQDISC, 0, concatBytes([tcmsg(ifindex, CLSACT_HANDLE, TC_H_CLSACT, 0), nlAttrString(TCA.KIND, 'clsact')]), 'RTM_DELQDISC');
  } catch (err) {
    if (!isGone(err)) throw err;
  }
}

/**
 * Filters not closed yet. A bpf_link goes away when an exiting process's fds close; a filter would
 * stay, holding its program, so the ones left open are removed at process exit (the 'exit' event:
 * a normal end or process.exit(), not a fatal signal).
 */
const openFilters = new Set<TcFilterLink>();
let exitHookInstalled = false;

function closeOpenFilters(): void {
  for (const link of [...openFilters]) {
    try {
      link.close();
    } catch {
      // Exiting: nobody is left to report to.
    }
  }
}

/** Options of {@link attachTcNetlink}. */
export interface TcNetlinkOptions {
  /** Filter priority, 1..65535 (lower runs first). Default: the kernel picks one (49152 on an empty hook, then one less than the first filter). */
  readonly priority?: number;
  /** Filter handle (non-zero u32). Default: the kernel picks the first free one. */
  readonly handle?: number;
}

/**
 * A cls_bpf filter this process added through netlink. Not a bpf_link: it cannot be pinned and has no
 * fd. Filters still open when the process exits normally are removed then; a process killed by a
 * signal leaves its filters (and their programs) attached, as `tc filter add` would.
 */
export class TcFilterLink implements Link {
  /** `tc/ingress` or `tc/egress`. */
  readonly kind: string;
  /** The interface index. */
  readonly ifindex: number;
  /** The hook. */
  readonly direction: TcDirection;
  /** The filter's handle. */
  readonly handle: number;
  /** The filter's priority. */
  readonly priority: number;
  /** True when this process created the clsact qdisc this filter sits on. */
  readonly ownsQdisc: boolean;
  #closed = false;

  /** @internal Built by {@link attachTcNetlink}. */
  constructor(ifindex: number, direction: TcDirection, handle: number, priority: number, ownsQdisc: boolean) {
    this.kind = `tc/${direction}`;
    this.ifindex = ifindex;
    this.direction = direction;
    this.handle = handle;
    this.priority = priority;
    this.ownsQdisc = ownsQdisc;
    openFilters.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', closeOpenFilters);
    }
  }

  /** Always undefined: a netlink filter is not a bpf_link. */
  get fd(): Fd | undefined {
    return undefined;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Deletes exactly this filter (by hook, priority, protocol and handle), then the clsact qdisc if
   * this process created it and nothing is left on it. A filter, qdisc or interface already removed
   * by someone else is not an error. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    openFilters.delete(this);
    withSocket((sock) =>
      runAll([
      () => {
        try {
          const body = concatBytes([tcmsg(this.ifindex, this.handle, HOOK_PARENT[this.direction], (this.priority << 16) | htons(ETH_P_ALL)), nlAttrString(TCA.KIND, 'bpf')]);
          sock.request(RTM.DELTFILTER, 0, body, 'RTM_DELTFILTER');
        } catch (err) {
          if (!isGone(err)) throw tcError(err, `removing tc ${this.direction} filter ${this.handle} (priority ${this.priority}) from interface ${this.ifindex}`, this.ifindex, 'filter');
        }
      },
      () => {
        if (this.ownsQdisc) releaseQdisc(sock, this.ifindex);
      },
    ]),
    );
  }

  /** @throws AttachNotSupportedError always: only bpf_links can be pinned (tcx, kernel 6.6+). */
  pin(): void {
    throw new AttachNotSupportedError(`pinning a ${this.kind} attachment needs a bpf_link (tcx, kernel 6.6+); this one is a netlink cls_bpf filter`);
  }

  /** Same as {@link TcFilterLink.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function checkRange(what: string, v: number | undefined, max: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > max)) throw new AttachError(`tc ${what} ${v} is out of range (1..${max})`);
}

/**
 * Attaches a SCHED_CLS program to the ingress or egress hook of `iface` the legacy way: ensures a
 * clsact qdisc, then adds a direct-action bpf filter for every protocol. Works on every kernel with
 * cls_bpf (4.5+); {@link attachTc} picks tcx instead where the kernel has it.
 * @throws AttachError for a missing interface, a program that is not SCHED_CLS, a taken
 *   priority/handle, missing CAP_NET_ADMIN; AttachNotSupportedError when the kernel lacks clsact or
 *   cls_bpf.
 */
export function attachTcNetlink(prog: Fd, iface: number | string, direction: TcDirection, options: TcNetlinkOptions = {}): TcFilterLink {
  checkRange('priority', options.priority, 0xffff);
  checkRange('handle', options.handle, 0xffffffff);
  const ifindex = resolveInterface(iface);
  const what = `attaching tc ${direction} filter to ${iface}`;
  const info = progInfo(prog);
  if (info.type !== BPF_PROG_TYPE.SCHED_CLS) {
    throw new AttachError(`${what}: program ${info.name || info.id} is of type ${progTypeName(info.type) ?? info.type}; a tc classifier must be BPF_PROG_TYPE_SCHED_CLS`);
  }
  return withSocket((sock) => attachWith(sock, prog, ifindex, direction, info, options, what));
}

/** The netlink half of {@link attachTcNetlink}: qdisc, filter, and the qdisc rolled back on failure. */
function attachWith(sock: NetlinkSocket, prog: Fd, ifindex: number, direction: TcDirection, info: { id: number; name: string }, options: TcNetlinkOptions, what: string): TcFilterLink {
  let created: boolean;
  try {
    created = addClsact(sock, ifindex);
  } catch (err) {
    throw tcError(err, `${what}: adding the clsact qdisc`, ifindex, 'qdisc');
  }
  // A qdisc made by an earlier link of ours is shared: the last of them removes it.
  const ownsQdisc = created || createdQdiscUsers.has(ifindex);
  if (ownsQdisc) createdQdiscUsers.set(ifindex, created ? 1 : (createdQdiscUsers.get(ifindex) ?? 0) + 1);
  const parent = HOOK_PARENT[direction];
  const priority = options.priority ?? 0;
  // Filters already on the hook: if the kernel does not echo the new one, it is the one not among
  // these (never another filter of the same program, which close() would then delete).
  const key = (f: { handle: number; priority: number }): string => `${f.handle}/${f.priority}`;
  try {
    const before: ReadonlySet<string> = new Set(created ? [] : filtersOn(sock, ifindex, direction).map(key));
    const body = concatBytes([
      tcmsg(ifindex, options.handle ?? 0, parent, (priority << 16) | htons(ETH_P_ALL)),
      nlAttrString(TCA.KIND, 'bpf'),
      nlAttrNested(TCA.OPTIONS, nlAttrU32(TCA_BPF.FD, prog.raw), nlAttrString(TCA_BPF.NAME, `${info.name || 'prog'}:[${info.id}]`), nlAttrU32(TCA_BPF.FLAGS, TCA_BPF_FLAG_ACT_DIRECT)),
    ]);
    // NLM_F_ECHO: the kernel sends the new filter back, with the handle and priority it chose.
    const replies = sock.request(RTM.NEWTFILTER, NLM_F.CREATE | NLM_F.EXCL | NLM_F.ECHO, body, 'RTM_NEWTFILTER');
    const echo = replies.map(parseTcObject).find((o) => o !== undefined && o.ifindex === ifindex && o.parent === parent && o.handle !== 0);
    const found = echo
      ? { handle: echo.handle, priority: echo.info >>> 16 }
      : filtersOn(sock, ifindex, direction).find((f) => f.programId === info.id && !before.has(key(f)) && (options.priority === undefined || f.priority === options.priority));
    if (!found) throw new AttachError(`${what}: the kernel accepted the filter but neither echoed it nor lists it`);
    return new TcFilterLink(ifindex, direction, found.handle, found.priority, ownsQdisc);
  } catch (err) {
    if (ownsQdisc) {
      try {
        releaseQdisc(sock, ifindex);
      } catch {
        // The attach error matters more than a failed cleanup of the qdisc.
      }
    }
    if (errnoIs(err, 'EEXIST')) {
      throw new AttachError(`${what}: a filter with priority ${options.priority ?? '(any)'} and handle ${options.handle ?? '(any)'} already exists on that hook (EEXIST)`, { cause: err });
    }
    throw tcError(err, what, ifindex, 'filter');
  }
}
