/** XDP programs attached to a network interface with a bpf_link (`BPF_LINK_CREATE`, BPF_XDP). */
import { BPF_ATTACH_TYPE, ifNameToIndex, linkCreate, type Fd } from '../sys/index.js';
import { AttachError } from './errors.js';
import { errnoIs, explainAttachError } from './internal.js';
import { BpfLink } from './link.js';

/** `XDP_FLAGS_*`: which driver path runs the program. */
export const XDP_FLAGS = { UPDATE_IF_NOEXIST: 1, SKB_MODE: 2, DRV_MODE: 4, HW_MODE: 8, REPLACE: 16 } as const;

/** Options of {@link attachXdp}. */
export interface XdpOptions {
  /** `XDP_FLAGS_*` (default 0: native if the driver supports it, else generic). */
  readonly flags?: number;
}

/** An interface index, from a number or an interface name. */
export function resolveInterface(iface: number | string): number {
  if (typeof iface === 'number') {
    if (!Number.isInteger(iface) || iface <= 0) throw new AttachError(`invalid interface index ${iface}`);
    return iface;
  }
  const index = ifNameToIndex(iface);
  if (!index) throw new AttachError(`network interface ${iface} does not exist`);
  return index;
}

/** Attach an XDP program to `iface` (name or index). */
export function attachXdp(prog: Fd, iface: number | string, options: XdpOptions = {}): BpfLink {
  const ifindex = resolveInterface(iface);
  try {
    return new BpfLink('xdp', linkCreate({ progFd: prog, targetIfindex: ifindex, attachType: BPF_ATTACH_TYPE.XDP, flags: options.flags }));
  } catch (err) {
    if (errnoIs(err, 'EBUSY', 'EEXIST')) throw new AttachError(`XDP on ${iface}: another XDP program is already attached (${(err as { errnoName: string }).errnoName})`, { cause: err });
    throw explainAttachError(err, `attaching XDP to ${iface}`);
  }
}
