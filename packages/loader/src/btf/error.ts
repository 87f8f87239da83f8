import { TsbpfError } from '../errors.js';

/** Stable codes of {@link BtfError}. */
export type BtfErrorCode =
  | 'BTF_TRUNCATED'
  | 'BTF_BAD_MAGIC'
  | 'BTF_BAD_HEADER'
  | 'BTF_BAD_TYPE_ID'
  | 'BTF_BAD_STRING'
  | 'BTF_BAD_KIND'
  | 'BTF_BAD_EXT'
  | 'BTF_NO_SIZE'
  | 'BTF_CYCLE'
  | 'BTF_NOT_FOUND'
  | 'BTF_NOT_SUPPORTED';

/** Where a BTF problem was found; every field is optional and rendered into the message. */
export interface BtfErrorLocation {
  /** File (or other origin) the BTF came from. */
  source?: string;
  /** Type id involved. */
  typeId?: number;
  /** Byte offset inside the blob (or string offset for BTF_BAD_STRING). */
  offset?: number;
}

/**
 * A malformed, truncated or inconsistent BTF (or BTF.ext) blob, or a lookup that cannot succeed.
 * The message names the source, the type id and the byte offset when they are known.
 */
export class BtfError extends TsbpfError {
  /** The error family; see {@link BtfErrorCode}. */
  declare readonly code: BtfErrorCode;
  /** The origin of the BTF (file name or description). */
  readonly source: string | undefined;
  /** The type id involved, if any. */
  readonly typeId: number | undefined;
  /** The byte offset involved, if any. */
  readonly offset: number | undefined;

  constructor(code: BtfErrorCode, problem: string, where: BtfErrorLocation = {}, options?: { cause?: unknown }) {
    const parts: string[] = [];
    if (where.source !== undefined) parts.push(where.source);
    if (where.typeId !== undefined) parts.push(`type ${where.typeId}`);
    if (where.offset !== undefined) parts.push(`offset ${where.offset}`);
    super(code, parts.length > 0 ? `${parts.join(', ')}: ${problem}` : problem, options);
    this.source = where.source;
    this.typeId = where.typeId;
    this.offset = where.offset;
  }
}
