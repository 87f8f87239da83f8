/**
 * Candidate search: which target types could a local type be? A candidate has the same essential
 * name (flavour suffix `___x` ignored on both sides: the kernel itself has e.g. `nf_conn___init`)
 * and a CO-RE-compatible kind. The kernel BTF holds ~130k types, so each target BTF is indexed
 * once per kind class (kept in a WeakMap for the life of the `Btf`) and lookups are map hits.
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
 * Per target BTF and kind class: essential name → ids. Built on the first lookup of that class by
 * scanning the (cheap, typed-array backed) kind of every own type and decoding only the names of
 * types of that class: a struct lookup decodes ~10k of the kernel's ~130k names, not all.
 */
interface TargetIndex {
  /** `typeCount` when built: a BTF that grew since (tests add types) is indexed again. */
  typeCount: number;
  byClass: Map<string, Map<string, number[]>>;
}

const indexes = new WeakMap<Btf, TargetIndex>();

/** Kinds that are interchangeable for candidate search: ENUM and ENUM64 form one class. */
function kindClass(kind: BtfKindName): string {
  return kind === 'enum64' ? 'enum' : kind;
}

function indexOf(btf: Btf): TargetIndex {
  let idx = indexes.get(btf);
  if (idx === undefined || idx.typeCount !== btf.typeCount) {
    idx = { typeCount: btf.typeCount, byClass: new Map() };
    indexes.set(btf, idx);
  }
  return idx;
}

function buildClassIndex(btf: Btf, cls: string): Map<string, number[]> {
  const byName = new Map<string, number[]>();
  // `typeCount` counts every id including void and the base's types, like libbpf's btf__type_cnt;
  // a module's split BTF is searched for its own types only.
  const end = btf.typeCount;
  for (let id = Math.max(1, btf.firstTypeId); id < end; id++) {
    if (kindClass(btf.kind(id)) !== cls) continue;
    const name = btf.name(id);
    if (name === '') continue;
    const key = essentialName(name);
    const list = byName.get(key);
    if (list === undefined) byName.set(key, [id]);
    else list.push(id);
  }
  return byName;
}

/**
 * Ids in `target` whose essential name is that of `name` and whose kind is CO-RE compatible with
 * `kind` (identical, or ENUM/ENUM64 either way). Results are cached per target BTF.
 */
export function candidatesIn(target: Btf, name: string, kind: BtfKindName): readonly number[] {
  const idx = indexOf(target);
  const cls = kindClass(kind);
  let byName = idx.byClass.get(cls);
  if (byName === undefined) {
    byName = buildClassIndex(target, cls);
    idx.byClass.set(cls, byName);
  }
  return byName.get(essentialName(name)) ?? NONE;
}

const NONE: readonly number[] = Object.freeze([]);

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
