/**
 * Global variables of an object (`.data`, `.bss`, `.rodata*`, custom `.data.*` sections), found by
 * name from the BTF DATASECs, readable and settable before load with type checks from BTF:
 * `spec.variables.get('audit_only')?.set(true)`.
 */
import type { Btf } from '../btf/btf.js';
import { compileDecoder, compileEncoder } from '../btf/codec.js';
import { SpecError } from './error.js';
import type { MapSpec } from './map.js';

/** One global variable inside a data section map. */
export class VariableSpec {
  /** Variable name. */
  readonly name: string;
  /** The data-section map holding it (its `contents` are what `set` writes). */
  readonly map: MapSpec;
  /** Byte offset inside the section. */
  readonly offset: number;
  /** Size in bytes. */
  readonly size: number;
  /** BTF type id of the variable's type. */
  readonly typeId: number;
  /** BTF describing the type. */
  readonly btf: Btf;

  constructor(init: { name: string; map: MapSpec; offset: number; size: number; typeId: number; btf: Btf }) {
    this.name = init.name;
    this.map = init.map;
    this.offset = init.offset;
    this.size = init.size;
    this.typeId = init.typeId;
    this.btf = init.btf;
  }

  /** Section name (`.rodata`, `.bss`, …). */
  get sectionName(): string {
    return this.map.name;
  }

  /** True for `const volatile` parameters living in read-only data (frozen after load). */
  get readOnly(): boolean {
    return this.map.freeze;
  }

  /** The variable's bytes in the map's initial contents (a view). */
  bytes(): Uint8Array {
    const contents = this.contents();
    return contents.subarray(this.offset, this.offset + this.size);
  }

  /** The current initial value decoded from BTF (numbers, bigints, booleans, strings, objects). */
  get(): unknown {
    return this.decode(this.bytes());
  }

  /** Decode this variable's type from `bytes` (e.g. the live value read from a loaded map). */
  decode(bytes: Uint8Array): unknown {
    return compileDecoder(this.btf, this.typeId)(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
  }

  /**
   * Set the initial value. Accepts what the BTF type accepts (a boolean for `bool`, a number or
   * bigint for integers, a string for char arrays, an object for structs) or the raw bytes.
   * Throws a typed error naming the variable on a wrong type or size.
   */
  set(value: unknown): void {
    this.encodeInto(this.bytes(), value);
  }

  /** Encode `value` (checked against the BTF type) into `b`, which is this variable's size. */
  encodeInto(b: Uint8Array, value: unknown): void {
    if (value instanceof Uint8Array) {
      if (value.byteLength !== this.size) {
        throw new SpecError('VARIABLE_BAD_VALUE', `variable ${this.name} is ${this.size} bytes, got ${value.byteLength}`);
      }
      b.set(value);
      return;
    }
    const scratch = new Uint8Array(this.size);
    try {
      compileEncoder(this.btf, this.typeId)(value, new DataView(scratch.buffer), 0);
    } catch (err) {
      throw new SpecError('VARIABLE_BAD_VALUE', `variable ${this.name}: ${(err as Error).message}`, { cause: err });
    }
    b.set(scratch);
  }

  private contents(): Uint8Array {
    if (!this.map.contents) this.map.contents = new Uint8Array(this.map.valueSize);
    return this.map.contents;
  }
}
