/**
 * Netlink sockets (`AF_NETLINK`, `SOCK_RAW`): koffi bindings to socket(2), setsockopt(2), bind(2),
 * getsockname(2), sendto(2) and recv(2), and {@link NetlinkSocket}, which frames `nlmsghdr` requests,
 * collects the replies addressed to them (a single answer, an echo, or a multi-part dump) and turns
 * `NLMSG_ERROR` into a {@link NetlinkError} carrying the errno and the kernel's extended-ack message.
 * Attribute (`nlattr`) encoders and a decoder live here too; the rtnetlink message bodies (tc, links)
 * are built by their users in `link/`.
 */
import { koffi } from './koffi.js';
import { TsbpfError } from '../errors.js';
import { ERRNO, errnoInfo } from './errno.js';
import { SyscallError } from './errors.js';
import { Fd } from './fd.js';
import { lastErrno } from './ffi.js';
import { concatBytes } from '../bytes.js';

type Fn<A extends unknown[], R> = (...args: A) => R;

interface NetlinkNative {
  socket: Fn<[number, number, number], number>;
  setsockopt: Fn<[number, number, number, Uint8Array, number], number>;
  bind: Fn<[number, Uint8Array, number], number>;
  getsockname: Fn<[number, Uint8Array, Uint8Array], number>;
  sendto: Fn<[number, Uint8Array, number, number, null, number], number>;
  recv: Fn<[number, Uint8Array, number, number], number>;
}

let native: NetlinkNative | undefined;

function lib(): NetlinkNative {
  if (native) return native;
  const libc = koffi().load('libc.so.6');
  // koffi returns `any`; each binding gets its C signature's TypeScript shape here, once.
  native = {
    socket: libc.func('int socket(int domain, int type, int protocol)') as NetlinkNative['socket'],
    setsockopt: libc.func('int setsockopt(int fd, int level, int name, void *value, unsigned int len)') as NetlinkNative['setsockopt'],
    bind: libc.func('int bind(int fd, void *addr, unsigned int len)') as NetlinkNative['bind'],
    getsockname: libc.func('int getsockname(int fd, void *addr, void *len)') as NetlinkNative['getsockname'],
    sendto: libc.func('sendto', 'long', ['int', 'void *', 'size_t', 'int', 'void *', 'unsigned int']) as NetlinkNative['sendto'],
    recv: libc.func('recv', 'long', ['int', 'void *', 'size_t', 'int']) as NetlinkNative['recv'],
  };
  return native;
}

/** `NETLINK_*` protocol numbers (the third argument of socket(2)). */
export const NETLINK_PROTOCOL = { ROUTE: 0 } as const;

/** `nlmsg_flags` bits (`NLM_F_*`); the upper byte means different things for GET, NEW, DELETE and ACK. */
export const NLM_F = {
  REQUEST: 0x01,
  MULTI: 0x02,
  ACK: 0x04,
  ECHO: 0x08,
  DUMP_INTR: 0x10,
  /** GET: every object (`NLM_F_ROOT | NLM_F_MATCH`). */
  DUMP: 0x300,
  /** NEW: replace an existing object. */
  REPLACE: 0x100,
  /** NEW: fail with EEXIST when the object exists. */
  EXCL: 0x200,
  /** NEW: create when missing. */
  CREATE: 0x400,
  /** ACK: the echoed request was cut to its header (NETLINK_CAP_ACK). */
  CAPPED: 0x100,
  /** ACK: extended-ack attributes follow. */
  ACK_TLVS: 0x200,
} as const;

/** Control message types (`NLMSG_*`). */
export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

/** Extended-ack attribute types (`NLMSGERR_ATTR_*`). */
export const NLMSGERR_ATTR = { MSG: 1, OFFS: 2 } as const;

/** `NLA_F_NESTED`: set on the type of an attribute that contains attributes. */
export const NLA_F_NESTED = 0x8000;

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_TRUNC = 0x20;
/** sizeof(struct sockaddr_nl): u16 family, u16 pad, u32 port id, u32 groups. */
const SOCKADDR_NL_SIZE = 12;
/** sizeof(struct nlmsghdr): u32 len, u16 type, u16 flags, u32 seq, u32 port id. */
export const NLMSG_HDRLEN = 16;
/** Large enough for any single rtnetlink reply batch (the kernel caps dump batches at 32 KiB). */
const RECV_BUFFER_SIZE = 64 * 1024;

/** Netlink payloads and attributes are padded to 4 bytes. */
export function nlAlign(n: number): number {
  return (n + 3) & ~3;
}

/** One received netlink message. */
export interface NetlinkMessage {
  /** `nlmsg_type` (`RTM_NEWTFILTER`, …). */
  readonly type: number;
  /** `nlmsg_flags`. */
  readonly flags: number;
  /** The bytes after the header (a view into the receive buffer copy owned by this message). */
  readonly payload: Uint8Array;
}

/** Details of a {@link NetlinkError}. */
export interface NetlinkErrorOptions {
  /** The kernel's extended-ack text (`NLMSGERR_ATTR_MSG`), if it sent one. */
  readonly extack?: string;
  /** Byte offset in the request of the attribute the kernel rejected (`NLMSGERR_ATTR_OFFS`). */
  readonly extackOffset?: number;
  /** What the caller was doing. */
  readonly context?: string;
}

/** What an errno means for a netlink request, where it differs from the generic description. */
function netlinkExplain(errno: number): string | undefined {
  switch (errno) {
    case ERRNO.EPERM:
      return 'not permitted: changing traffic control or links needs CAP_NET_ADMIN in the network namespace of the interface';
    case ERRNO.ENODEV:
      return 'no such network interface';
    default:
      return undefined;
  }
}

/**
 * A netlink request the kernel answered with an error. `errno`/`errnoName` as for any
 * {@link SyscallError}; `extack` is the kernel's own explanation when it gave one
 * (e.g. `Exclusivity flag on, cannot modify`), and it leads the message.
 */
export class NetlinkError extends SyscallError {
  /** The kernel's extended-ack message, if any. */
  readonly extack: string | undefined;
  /** Offset in the request of the rejected attribute, if the kernel said. */
  readonly extackOffset: number | undefined;
  /** The request's message type name, e.g. `RTM_NEWTFILTER`. */
  readonly request: string;

  constructor(request: string, errno: number, options: NetlinkErrorOptions = {}) {
    super(`netlink(${request})`, errno, { context: options.context });
    this.request = request;
    this.extack = options.extack;
    this.extackOffset = options.extackOffset;
    const why = options.extack ?? netlinkExplain(errno) ?? errnoInfo(errno).description;
    this.message = `netlink ${request} failed: ${this.errnoName}: ${why}${options.context ? ` (${options.context})` : ''}`;
  }

  /** The same error with `context` added. */
  override withContext(context: string): NetlinkError {
    const joined = this.context ? `${this.context}; ${context}` : context;
    return new NetlinkError(this.request, this.errno, { extack: this.extack, extackOffset: this.extackOffset, context: joined });
  }
}

/** Encodes one attribute: u16 length, u16 type, the data, padding to 4 bytes. */
export function nlAttr(type: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(nlAlign(4 + data.byteLength));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 4 + data.byteLength, true);
  dv.setUint16(2, type, true);
  out.set(data, 4);
  return out;
}

/** A u32 attribute (host byte order). */
export function nlAttrU32(type: number, value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, true);
  return nlAttr(type, b);
}

/** A NUL-terminated string attribute. */
export function nlAttrString(type: number, value: string): Uint8Array {
  const s = new TextEncoder().encode(value);
  const b = new Uint8Array(s.byteLength + 1);
  b.set(s);
  return nlAttr(type, b);
}

/** A nested attribute holding `children` (NLA_F_NESTED set). */
export function nlAttrNested(type: number, ...children: Uint8Array[]): Uint8Array {
  return nlAttr(type | NLA_F_NESTED, concatBytes(children));
}

/**
 * Decodes a run of attributes into type → data (the NLA_F_NESTED/NET_BYTEORDER bits are masked off;
 * a repeated type keeps its first occurrence). Stops at the first malformed header.
 */
export function parseNlAttrs(buf: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + 4 <= buf.byteLength) {
    const len = dv.getUint16(off, true);
    const type = dv.getUint16(off + 2, true) & 0x3fff;
    if (len < 4 || off + len > buf.byteLength) break;
    if (!out.has(type)) out.set(type, buf.subarray(off + 4, off + len));
    off += nlAlign(len);
  }
  return out;
}

/** A u32 attribute's value. */
export function nlU32(data: Uint8Array | undefined): number | undefined {
  return data && data.byteLength >= 4 ? new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true) : undefined;
}

/** A string attribute's value, without its terminating NUL. */
export function nlString(data: Uint8Array | undefined): string | undefined {
  if (!data) return undefined;
  const nul = data.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? data : data.subarray(0, nul));
}

function check(r: number, call: string): number {
  if (r < 0) throw new SyscallError(call, lastErrno());
  return r;
}

/**
 * One netlink socket, bound to a kernel-assigned port id, with extended acks requested. Open one per
 * operation and close it ({@link NetlinkSocket.close} or `using`): it owns its {@link Fd}.
 */
export class NetlinkSocket implements Disposable {
  /** The owned socket descriptor. */
  readonly fd: Fd;
  /** The port id the kernel assigned at bind time; replies to us carry it. */
  readonly portId: number;
  #seq = 0;
  readonly #buf = new Uint8Array(RECV_BUFFER_SIZE);

  private constructor(fd: Fd, portId: number) {
    this.fd = fd;
    this.portId = portId;
  }

  /**
   * Opens a `protocol` socket (default NETLINK_ROUTE) in the calling thread's network namespace.
   * @throws SyscallError when socket/bind fail (EAFNOSUPPORT without netlink, EMFILE).
   */
  static open(protocol: number = NETLINK_PROTOCOL.ROUTE): NetlinkSocket {
    const n = lib();
    const fd = new Fd(check(n.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol), 'socket(AF_NETLINK)'), 'netlink socket');
    try {
      const one = new Uint8Array(4);
      new DataView(one.buffer).setUint32(0, 1, true);
      // Ask for the kernel's error text and for errors without the echoed request. Kernels before
      // 4.12 lack these options (ENOPROTOOPT): errors then carry the errno only.
      n.setsockopt(fd.raw, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
      n.setsockopt(fd.raw, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
      const addr = new Uint8Array(SOCKADDR_NL_SIZE);
      new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
      check(n.bind(fd.raw, addr, SOCKADDR_NL_SIZE), 'bind(AF_NETLINK)');
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, SOCKADDR_NL_SIZE, true);
      check(n.getsockname(fd.raw, addr, len), 'getsockname(AF_NETLINK)');
      return new NetlinkSocket(fd, new DataView(addr.buffer).getUint32(4, true));
    } catch (err) {
      fd.close();
      throw err;
    }
  }

  /**
   * Sends one request (`type`, `flags` | NLM_F_REQUEST | NLM_F_ACK, `body` after the header) and
   * returns the messages the kernel sent back before its ack (an NLM_F_ECHO copy, a GET answer).
   * @param name the request's name for errors, e.g. `RTM_NEWQDISC`.
   * @throws NetlinkError when the kernel answers with an error.
   */
  request(type: number, flags: number, body: Uint8Array, name: string): NetlinkMessage[] {
    return this.#exchange(type, flags | NLM_F.ACK, body, name, false);
  }

  /**
   * Sends a dump request (`type` with NLM_F_DUMP, `body` after the header) and returns every part
   * up to NLMSG_DONE.
   * @throws NetlinkError when the kernel refuses the dump or fails midway.
   */
  dump(type: number, body: Uint8Array, name: string): NetlinkMessage[] {
    return this.#exchange(type, NLM_F.DUMP, body, name, true);
  }

  #exchange(type: number, flags: number, body: Uint8Array, name: string, dump: boolean): NetlinkMessage[] {
    const seq = ++this.#seq;
    const msg = new Uint8Array(NLMSG_HDRLEN + nlAlign(body.byteLength));
    const dv = new DataView(msg.buffer);
    dv.setUint32(0, msg.byteLength, true);
    dv.setUint16(4, type, true);
    dv.setUint16(6, flags | NLM_F.REQUEST, true);
    dv.setUint32(8, seq, true);
    dv.setUint32(12, this.portId, true);
    msg.set(body, NLMSG_HDRLEN);
    this.#send(msg, name);
    const out: NetlinkMessage[] = [];
    for (;;) {
      for (const m of this.#receive(name)) {
        if (m.seq !== seq || m.portId !== this.portId) continue; // a late reply to an earlier request
        if (m.type === NLMSG.ERROR) {
          const err = decodeNetlinkError(m.payload, m.flags, name, true);
          if (err) throw err;
          if (!dump) return out;
          continue;
        }
        if (m.type === NLMSG.DONE) {
          // A dump that failed midway reports the error in NLMSG_DONE's payload.
          const err = m.payload.byteLength >= 4 ? decodeNetlinkError(m.payload, m.flags, name, false) : undefined;
          if (err) throw err;
          return out;
        }
        if (m.type === NLMSG.NOOP) continue;
        if (m.type === NLMSG.OVERRUN) throw new TsbpfError('NETLINK_OVERRUN', `netlink ${name}: the kernel dropped reply data (NLMSG_OVERRUN)`);
        out.push({ type: m.type, flags: m.flags, payload: m.payload });
      }
    }
  }

  #send(msg: Uint8Array, name: string): void {
    for (;;) {
      const r = lib().sendto(this.fd.raw, msg, msg.byteLength, 0, null, 0);
      if (r < 0) {
        const errno = lastErrno();
        if (errno === ERRNO.EINTR) continue;
        throw new SyscallError(`sendto(netlink ${name})`, errno);
      }
      if (r !== msg.byteLength) throw new TsbpfError('NETLINK_SHORT_SEND', `netlink ${name}: sent ${r} of ${msg.byteLength} bytes`);
      return;
    }
  }

  /** One recv(2): the messages of the datagram, each with a copy of its payload. */
  #receive(name: string): { type: number; flags: number; seq: number; portId: number; payload: Uint8Array }[] {
    let r: number;
    for (;;) {
      r = lib().recv(this.fd.raw, this.#buf, this.#buf.byteLength, MSG_TRUNC);
      if (r >= 0) break;
      const errno = lastErrno();
      if (errno !== ERRNO.EINTR) throw new SyscallError(`recv(netlink ${name})`, errno);
    }
    // With MSG_TRUNC recv returns the datagram's real size, so a cut reply is detected, not misparsed.
    if (r > this.#buf.byteLength) throw new TsbpfError('NETLINK_TRUNCATED', `netlink ${name}: a ${r}-byte reply did not fit the ${this.#buf.byteLength}-byte buffer`);
    const dv = new DataView(this.#buf.buffer, 0, r);
    const out: { type: number; flags: number; seq: number; portId: number; payload: Uint8Array }[] = [];
    let off = 0;
    while (off + NLMSG_HDRLEN <= r) {
      const len = dv.getUint32(off, true);
      if (len < NLMSG_HDRLEN || off + len > r) throw new TsbpfError('NETLINK_MALFORMED', `netlink ${name}: malformed reply (message length ${len} at offset ${off} of ${r})`);
      out.push({
        type: dv.getUint16(off + 4, true),
        flags: dv.getUint16(off + 6, true),
        seq: dv.getUint32(off + 8, true),
        portId: dv.getUint32(off + 12, true),
        payload: this.#buf.slice(off + NLMSG_HDRLEN, off + len),
      });
      off += nlAlign(len);
    }
    return out;
  }

  /** Closes the socket; idempotent. */
  close(): void {
    this.fd.close();
  }

  /** Same as {@link NetlinkSocket.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Decodes an `NLMSG_ERROR` payload (`int error`, the echoed request: the whole of it unless
 * NLM_F_CAPPED, its header otherwise) or an `NLMSG_DONE` one (`int error` only, `echoesRequest`
 * false), then the extended-ack attributes when NLM_F_ACK_TLVS. Undefined for success (error 0).
 */
export function decodeNetlinkError(payload: Uint8Array, flags: number, request: string, echoesRequest: boolean): NetlinkError | undefined {
  if (payload.byteLength < 4) throw new TsbpfError('NETLINK_MALFORMED', `netlink ${request}: truncated error message`);
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const errno = -dv.getInt32(0, true);
  if (errno === 0) return undefined;
  let extack: string | undefined;
  let extackOffset: number | undefined;
  if (flags & NLM_F.ACK_TLVS) {
    let tlvs = 4;
    if (echoesRequest && payload.byteLength >= 4 + NLMSG_HDRLEN) tlvs = flags & NLM_F.CAPPED ? 4 + NLMSG_HDRLEN : 4 + nlAlign(dv.getUint32(4, true));
    if (tlvs <= payload.byteLength) {
      const attrs = parseNlAttrs(payload.subarray(tlvs));
      extack = nlString(attrs.get(NLMSGERR_ATTR.MSG)) || undefined;
      extackOffset = nlU32(attrs.get(NLMSGERR_ATTR.OFFS));
    }
  }
  return new NetlinkError(request, errno, { extack, extackOffset });
}
