/**
 * Candidate search: which target types could a local type be? A candidate has the same essential
 * name (flavour suffix `___x` ignored on both sides: the kernel itself has e.g. `nf_conn___init`)
 * and a CO-RE-compatible kind. The kernel BTF holds ~130k types: the target's per-kind name index
 * (built once, over raw name bytes) answers each lookup, and results are cached per target.
 */
import type { Btf } from '../btf.js';
import type { BtfKindName } from '../types.js';
import { CoreError } from './error.js';
import { describeType, essentialName } from './names.js';

/** One possible target of a relocation: a type id in one target BTF. */
export interface CoreCandidate {
  /** The BTF (vmlinux or a module's split BTF) holding the type. */
  btf: Btf;
  /** Type id in `btf`. */
  typeId: number;
}

/**
 * Per target BTF: results by kind class and essential name. The lookups themselves go through the
 * target's per-kind name indexes (`Btf.ownIdsByEssentialName`: raw name bytes, no decoding); this
 * cache only makes repeated relocations against the same type free.
 */
interface TargetCache {
  /** `Btf.revision` when filled: a BTF changed since (tests add types) is looked up again. */
  revision: number;
  results: Map<string, readonly number[]>;
}

const caches = new WeakMap<Btf, TargetCache>();

/** Kinds that are interchangeable for candidate search: ENUM and ENUM64 form one class. */
function kindClass(kind: BtfKindName): string {
  return kind === 'enum64' ? 'enum' : kind;
}

/**
 * Ids in `target` whose essential name is that of `name` and whose kind is CO-RE compatible with
 * `kind` (identical, or ENUM/ENUM64 either way). A module's split BTF is searched for its own types
 * only. Results are cached per target BTF.
 */
export function candidatesIn(target: Btf, name: string, kind: BtfKindName): readonly number[] {
  let cache = caches.get(target);
  if (cache === undefined || cache.revision !== target.revision) {
    cache = { revision: target.revision, results: new Map() };
    caches.set(target, cache);
  }
  const cls = kindClass(kind);
  const ess = essentialName(name);
  const key = `${cls}:${ess}`;
  const hit = cache.results.get(key);
  if (hit !== undefined) return hit;
  let ids: readonly number[];
  if (cls === 'enum') {
    const a = target.ownIdsByEssentialName(ess, 'enum');
    const b = target.ownIdsByEssentialName(ess, 'enum64');
    ids = b.length === 0 ? a : a.length === 0 ? b : [...a, ...b].sort((x, y) => x - y);
  } else {
    ids = target.ownIdsByEssentialName(ess, kind);
  }
  if (ids.length === 0) ids = NONE;
  cache.results.set(key, ids);
  return ids;
}

const NONE: readonly number[] = Object.freeze([]);

/**
 * Target BTFs whose module part is produced on demand: the running kernel's modules are only
 * parsed when vmlinux lacks a candidate (`btf/kernel.ts` `KernelBtfTargets`).
 */
export interface LazyCoreTargets {
  /** The base BTF, searched first. */
  readonly vmlinux: Btf;
  /** The modules' split BTFs, in a stable order; each may be parsed as the iteration reaches it. */
  modules(): Iterable<Btf>;
}

/** Where CO-RE relocations look for candidates: vmlinux first, then modules, as a list or lazily. */
export type CoreTargets = readonly Btf[] | LazyCoreTargets;

/** The first target and the rest of `targets`, without touching the rest. */
function splitTargets(targets: CoreTargets): [Btf | undefined, () => Iterable<Btf>] {
  if (isTargetList(targets)) return [targets[0], () => targets.slice(1)];
  return [targets.vmlinux, () => targets.modules()];
}

function isTargetList(targets: CoreTargets): targets is readonly Btf[] {
  return Array.isArray(targets);
}

/**
 * All candidates for local type `localTypeId`, searched as libbpf does: in the first target
 * (vmlinux) first, and only when it has none, in every other target (module BTFs) together.
 * Anonymous local types cannot be relocated.
 */
export function findCandidates(local: Btf, localTypeId: number, targets: CoreTargets): CoreCandidate[] {
  const t = local.type(localTypeId);
  if (t.kind === 'void' || t.name === '' || essentialName(t.name) === '') {
    throw new CoreError('CORE_UNSUPPORTED', `CO-RE relocation against anonymous ${describeType(local, localTypeId)} [${localTypeId}] cannot be resolved by name`);
  }
  const [main, modules] = splitTargets(targets);
  if (main === undefined) return [];
  const fromMain = candidatesIn(main, t.name, t.kind);
  if (fromMain.length > 0) return fromMain.map((typeId) => ({ btf: main, typeId }));
  const out: CoreCandidate[] = [];
  for (const m of modules()) for (const typeId of candidatesIn(m, t.name, t.kind)) out.push({ btf: m, typeId });
  return out;
}
