/**
 * A readable text summary of an object: its programs, its maps, who touches what, and — when the
 * caller knows them — the gadget's parameters and tracers.
 */
import type { InteractionModel } from './model.js';

/** A gadget parameter, for the summary. */
export interface SummaryParameter {
  /** Name shown to users. */
  name: string;
  /** C type, when known. */
  type?: string;
  /** Default value, already formatted. */
  defaultValue?: string;
  /** One line of explanation. */
  description?: string;
}

/** A gadget tracer (a ring/perf buffer and the event struct it carries), for the summary. */
export interface SummaryTracer {
  /** Tracer name. */
  name: string;
  /** The ring or perf buffer map its events travel through. */
  map: string;
  /** C type of one event, e.g. `struct cap_event`. */
  structName?: string;
}

/** Extra context for {@link renderSummary}. */
export interface SummaryOptions {
  /** Path of the object, printed as the heading. */
  objectPath?: string;
  /** Gadget parameters; the section is printed when given (even empty). */
  parameters?: readonly SummaryParameter[];
  /** Gadget tracers; the section is printed when given (even empty). */
  tracers?: readonly SummaryTracer[];
}

/** Left-aligned columns separated by two spaces; trailing spaces trimmed. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The summary text, ending with a newline. */
export function renderSummary(model: InteractionModel, options: SummaryOptions = {}): string {
  const out: string[] = [];
  if (options.objectPath !== undefined) out.push(`Object: ${options.objectPath}`, '');

  out.push(`Programs (${model.programs.length}):`);
  if (model.programs.length > 0) {
    const rows = model.programs.map((p) => [p.name, p.sectionName, p.type ?? '-', p.attachTarget ?? '-', String(p.insnCount)]);
    out.push(...formatTable(['NAME', 'SECTION', 'TYPE', 'ATTACH TARGET', 'INSNS'], rows).map((l) => `  ${l}`));
  }
  out.push('');

  out.push(`Maps (${model.maps.length}):`);
  if (model.maps.length > 0) {
    const rows = model.maps.map((m) => [
      m.name,
      m.type,
      m.keyType ? `${m.keySize} (${m.keyType})` : String(m.keySize),
      m.valueType ? `${m.valueSize} (${m.valueType})` : String(m.valueSize),
      String(m.maxEntries),
    ]);
    out.push(...formatTable(['NAME', 'TYPE', 'KEY', 'VALUE', 'MAX ENTRIES'], rows).map((l) => `  ${l}`));
  }
  out.push('');

  out.push(`Interactions (${plural(model.edges.length, 'program-map pair')}${model.detailed ? ', detailed' : ''}):`);
  if (model.edges.length > 0) {
    out.push(...formatTable(['PROGRAM', 'MAP', 'KINDS'], model.edges.map((e) => [e.program, e.map, e.label])).map((l) => `  ${l}`));
  }
  const untouched = model.mapNames.filter((m) => !model.edges.some((e) => e.map === m));
  if (untouched.length > 0) out.push(`  maps with no interaction found${model.detailed ? '' : ' (detailed analysis may find more)'}: ${untouched.join(', ')}`);

  if (options.parameters !== undefined) {
    out.push('', `Parameters (${options.parameters.length}):`);
    if (options.parameters.length > 0) {
      const rows = options.parameters.map((p) => [p.name, p.type ?? '-', p.defaultValue ?? '-', p.description ?? '']);
      out.push(...formatTable(['NAME', 'TYPE', 'DEFAULT', 'DESCRIPTION'], rows).map((l) => `  ${l}`));
    }
  }
  if (options.tracers !== undefined) {
    out.push('', `Tracers (${options.tracers.length}):`);
    if (options.tracers.length > 0) {
      const rows = options.tracers.map((t) => [t.name, t.map, t.structName ?? '-']);
      out.push(...formatTable(['NAME', 'MAP', 'EVENT STRUCT'], rows).map((l) => `  ${l}`));
    }
  }
  return out.join('\n') + '\n';
}
