/**
 * Gadget parameters: typed values for `.rodata` variables, from JS values or from command-line
 * strings, checked against the variable's BTF type.
 */
import { TsbpfError } from '../errors.js';
import type { ParamMetadata } from './metadata.js';

/** The value kinds a parameter can hold, from its BTF type. */
export type ParamKind = 'bool' | 'int' | 'bigint' | 'string' | 'bytes';

/** What kind of value a parameter takes. */
export function paramKind(p: ParamMetadata): ParamKind {
  const btf = p.spec.btf;
  const t = btf.type(btf.underlying(p.spec.typeId));
  if (t.kind === 'int') {
    if (t.encoding.bool) return 'bool';
    return t.size > 4 ? 'bigint' : 'int';
  }
  if (t.kind === 'enum' || t.kind === 'enum64') return t.size > 4 ? 'bigint' : 'int';
  if (t.kind === 'array') {
    const elem = btf.type(btf.underlying(t.elemType));
    if (elem.kind === 'int' && elem.size === 1) return 'string';
  }
  return 'bytes';
}

/** Parse a command-line string into the value a parameter takes. */
export function parseParamValue(p: ParamMetadata, text: string): unknown {
  const kind = paramKind(p);
  const bad = (): never => {
    throw new TsbpfError('GADGET_PARAM', `parameter ${p.name}: '${text}' is not a valid ${kind}`);
  };
  switch (kind) {
    case 'bool':
      if (['true', '1', 'yes', 'on', ''].includes(text)) return true;
      if (['false', '0', 'no', 'off'].includes(text)) return false;
      return bad();
    case 'int':
      return /^-?\d+$/.test(text) ? Number(text) : bad();
    case 'bigint':
      return /^-?\d+$/.test(text) ? BigInt(text) : bad();
    case 'string':
      return text;
    default:
      return bad();
  }
}

/** Find a parameter by variable name (`targ_pid`) or display name (`pid`). */
export function findParam(params: readonly ParamMetadata[], name: string): ParamMetadata | undefined {
  return params.find((p) => p.variable === name || p.name === name);
}

/** The parameter's default: the C initializer, as the spec holds it before any edit. */
export function paramDefault(p: ParamMetadata): unknown {
  return p.spec.get();
}
