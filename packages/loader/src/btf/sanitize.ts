/**
 * Rewrite BTF kinds an older kernel does not know into kinds it accepts, keeping every type id,
 * the way libbpf prepares object BTF for BPF_BTF_LOAD. Record sizes stay the same where libbpf
 * relies on that (VAR/DECL_TAG → INT, DATASEC → STRUCT, ENUM64 → UNION, FUNC_PROTO → ENUM), so
 * the rewritten type reads back as a well-formed record of the new kind.
 */
import { Btf } from './btf.js';
import type { BtfMember, BtfType } from './types.js';

/**
 * What the target kernel's BTF loader accepts. An omitted flag counts as supported, so `{}`
 * changes nothing; feature probes set the ones they found missing to `false`.
 */
export interface BtfSupport {
  /** BTF_KIND_FUNC and BTF_KIND_FUNC_PROTO (5.0). Without: FUNC → TYPEDEF, FUNC_PROTO → ENUM. */
  func?: boolean;
  /** `BTF_FUNC_GLOBAL` linkage on FUNC (5.6). Without: every FUNC becomes static. */
  funcLinkage?: boolean;
  /** BTF_KIND_VAR and BTF_KIND_DATASEC (5.2). Without: VAR → INT, DATASEC → STRUCT. */
  datasec?: boolean;
  /** '?' in DATASEC names (e.g. `?.struct_ops`). Without: '?' becomes '_'. */
  qmarkDatasec?: boolean;
  /** BTF_KIND_FLOAT (5.13). Without: FLOAT → anonymous STRUCT of the same size. */
  float?: boolean;
  /** BTF_KIND_DECL_TAG (5.16). Without: DECL_TAG → 1-byte INT. */
  declTag?: boolean;
  /** BTF_KIND_TYPE_TAG (5.17). Without: TYPE_TAG → CONST. */
  typeTag?: boolean;
  /** BTF_KIND_ENUM64 and signed enums (6.0). Without: ENUM64 → UNION, enums lose the signed flag. */
  enum64?: boolean;
  /**
   * kind_flag on DECL_TAG/TYPE_TAG marking a C attribute (6.14). Without: such decl tags become
   * 1-byte INTs and such type tags CONST, as when tags are unsupported altogether.
   */
  tagAttributes?: boolean;
}

/** Whether `supported` asks for any rewriting at all. */
export function needsSanitizing(supported: BtfSupport): boolean {
  return Object.values(supported).some((v) => v === false);
}

/** The 1-byte INT libbpf substitutes for VAR and DECL_TAG. */
function byteInt(name: string): BtfType {
  return { kind: 'int', name, size: 1, encoding: { signed: false, char: false, bool: false }, offset: 0, bits: 8 };
}

/**
 * A copy of `btf` with unsupported kinds rewritten. Type ids are unchanged; when ENUM64 must go,
 * one INT (`enum64_placeholder`) is appended as the member type of the replacement unions.
 * The input is not modified. Split BTF keeps its base (only own types are rewritten).
 */
export function sanitizeBtf(btf: Btf, supported: BtfSupport): Btf {
  const out = Btf.parse(btf.encode(), { base: btf.base, source: btf.source });
  if (!needsSanitizing(supported)) return out;
  const has = (k: keyof BtfSupport): boolean => supported[k] !== false;
  let enum64Placeholder = 0;
  const end = out.typeCount;
  for (let id = out.firstTypeId; id < end; id++) {
    const t = out.type(id);
    let r: BtfType | undefined;
    switch (t.kind) {
      case 'var':
        if (!has('datasec')) r = byteInt(t.name);
        break;
      case 'decl_tag':
        if (!has('declTag') || (t.attribute === true && !has('tagAttributes'))) r = byteInt(t.name);
        break;
      case 'datasec':
        if (!has('datasec')) {
          // A struct whose members are the section's variables, named after them.
          const members: BtfMember[] = t.vars.map((v) => ({
            // Read the original: the VAR itself may already have been rewritten to an INT.
            name: btf.kind(v.type) === 'var' ? btf.name(v.type) : '',
            type: v.type,
            bitOffset: v.offset * 8,
            bitfieldSize: 0,
          }));
          r = { kind: 'struct', name: t.name.replace(/[.?]/g, '_'), size: t.size, kindFlag: false, members };
        } else if (!has('qmarkDatasec') && t.name.includes('?')) {
          r = { ...t, name: t.name.replace(/\?/g, '_') };
        }
        break;
      case 'float':
        if (!has('float')) r = { kind: 'struct', name: '', size: t.size, kindFlag: false, members: [] };
        break;
      case 'type_tag':
        if (!has('typeTag') || (t.attribute === true && !has('tagAttributes'))) r = { kind: 'const', name: '', type: t.type };
        break;
      case 'func':
        if (!has('func')) r = { kind: 'typedef', name: t.name, type: t.type };
        else if (!has('funcLinkage') && t.linkage !== 0) r = { ...t, linkage: 0 };
        break;
      case 'func_proto':
        if (!has('func')) {
          // Same record size: each btf_param (name, type) is read as a btf_enum (name, value).
          r = { kind: 'enum', name: '', size: 4, signed: false, values: t.params.map((p) => ({ name: p.name, value: p.type })) };
        }
        break;
      case 'enum':
        if (!has('enum64') && t.signed) r = { ...t, signed: false };
        break;
      case 'enum64':
        if (!has('enum64')) {
          if (enum64Placeholder === 0) enum64Placeholder = out.add(byteInt('enum64_placeholder'));
          const type = enum64Placeholder;
          r = { kind: 'union', name: t.name, size: t.size, kindFlag: false, members: t.values.map((v) => ({ name: v.name, type, bitOffset: 0, bitfieldSize: 0 })) };
        }
        break;
      default:
        break;
    }
    if (r) out.replace(id, r);
  }
  return out;
}
