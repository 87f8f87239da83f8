/**
 * Candidate search: which target types could a local type be? A candidate has the same essential
 * name (flavour suffix `___x` ignored on both sides) and a CO-RE-compatible kind. The kernel BTF
 * holds ~150k types, so each target BTF is indexed by essential name once (kept in a WeakMap for
 * the life of the `Btf`) and every (name, kind) lookup is cached on top of that.
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

/** Per target BTF: essential name → ids, and (kind class, name) → compatible ids. */
interface TargetIndex {
  /** `typeCount` when built: a BTF that grew since (tests add types) is indexed again. */
  typeCount: number;
  byName: Map<string, number[]>;
  byKindAndName: Map<string, readonly number[]>;
}

const indexes = new WeakMap<Btf, TargetIndex>();

/** Kinds that are interchangeable for candidate search: ENUM and ENUM64 form one class. */
function kindClass(kind: BtfKindName): string {
  return kind === 'enum64' ? 'enum' : kind;
}

/** The type ids a BTF defines itself (a module's split BTF starts after its base). */
function ownTypeIds(btf: Btf): { start: number; end: number } {
  // `typeCount` counts every id including void and the base's types, like libbpf's btf__type_cnt.
  return { start: Math.max(1, btf.firstTypeId), end: btf.typeCount };
}

function buildIndex(btf: Btf): TargetIndex {
  const byName = new Map<string, number[]>();
  const { start, end } = ownTypeIds(btf);
  for (let id = start; id < end; id++) {
    const name = btf.name(id);
    if (name === '') continue;
    const key = essentialName(name);
    const list = byName.get(key);
    if (list === undefined) byName.set(key, [id]);
    else list.push(id);
  }
  return { typeCount: btf.typeCount, byName, byKindAndName: new Map() };
}

function indexOf(btf: Btf): TargetIndex {
  let idx = indexes.get(btf);
  if (idx === undefined || idx.typeCount !== btf.typeCount) {
    idx = buildIndex(btf);
    indexes.set(btf, idx);
  }
  return idx;
}

/**
 * Ids in `target` whose essential name is `name` and whose kind is CO-RE compatible with `kind`
 * (identical, or ENUM/ENUM64 either way). Results are cached per target BTF.
 */
export function candidatesIn(target: Btf, name: string, kind: BtfKindName): readonly number[] {
  const idx = indexOf(target);
  const essential = essentialName(name);
  const key = `${kindClass(kind)}\0${essential}`;
  let ids = idx.byKindAndName.get(key);
  if (ids === undefined) {
    const cls = kindClass(kind);
    ids = (idx.byName.get(essential) ?? []).filter((id) => kindClass(target.kind(id)) === cls);
    idx.byKindAndName.set(key, ids);
  }
  return ids;
}

/**
 * All candidates for local type `localTypeId`, searched as libbpf does: in the first target
 * (vmlinux) first, and only when it has none, in every other target (module BTFs) together.
 * Anonymous local types cannot be relocated.
 */
export function findCandidates(local: Btf, localTypeId: number, targets: readonly Btf[]): CoreCandidate[] {
  const t = local.type(localTypeId);
  if (t.kind === 'void' || t.name === '' || essentialName(t.name) === '') {
    throw new CoreError('CORE_UNSUPPORTED', `CO-RE relocation against anonymous ${describeType(local, localTypeId)} [${localTypeId}] cannot be resolved by name`);
  }
  const [main, ...modules] = targets;
  if (main === undefined) return [];
  const fromMain = candidatesIn(main, t.name, t.kind);
  if (fromMain.length > 0) return fromMain.map((typeId) => ({ btf: main, typeId }));
  const out: CoreCandidate[] = [];
  for (const m of modules) for (const typeId of candidatesIn(m, t.name, t.kind)) out.push({ btf: m, typeId });
  return out;
}
