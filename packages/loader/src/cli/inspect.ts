/**
 * `tsbpf inspect <object.o> [--mermaid|--json|--notes] [--detailed]`: what a BPF object contains and
 * which of its programs touch which maps. Static: nothing is loaded into the kernel.
 */
import { basename } from 'node:path';
import { TsbpfError } from '../errors.js';
import { readGadgetMetadata } from '../gadget/metadata.js';
import { renderJson } from '../inspect/json.js';
import { renderMermaidMarkdown } from '../inspect/mermaid.js';
import { renderDeveloperNotes } from '../inspect/notes.js';
import { analysisInput, btfTypeName } from '../inspect/spec.js';
import { buildModel } from '../inspect/model.js';
import { renderSummary, type SummaryOptions } from '../inspect/summary.js';
import { CollectionSpec } from '../spec/collection.js';

const USAGE = `usage: tsbpf inspect <object.o> [--mermaid | --json | --notes] [--detailed]

Analyse a BPF object without loading it: its programs, its maps, and which programs use which maps.

  (no format)   readable summary: programs, maps, interactions, gadget parameters and tracers
  --mermaid     flowchart and sequence diagram (Mermaid, as Markdown blocks)
  --json        everything as a JSON document
  --notes       a complete DEVELOPER_NOTES.md with both diagrams
  --detailed    also record ring buffer, stack map, tail call and other map helpers, and
                reads/writes of global variables (default: what 'ig image inspect' shows)
  -h, --help    this text`;

type Format = 'summary' | 'mermaid' | 'json' | 'notes';

interface Args {
  object: string;
  format: Format;
  detailed: boolean;
}

/** Parse the arguments, or return the exit code after printing why not. */
function parseArgs(argv: readonly string[], err: (s: string) => void, out: (s: string) => void): Args | number {
  let object: string | undefined;
  let format: Format | undefined;
  let detailed = false;
  const setFormat = (f: Format): boolean => {
    if (format !== undefined && format !== f) {
      err(`tsbpf inspect: --${format} and --${f} cannot be combined\n\n${USAGE}\n`);
      return false;
    }
    format = f;
    return true;
  };
  for (const a of argv) {
    if (a === '-h' || a === '--help') {
      out(USAGE + '\n');
      return 0;
    } else if (a === '--mermaid' || a === '--json' || a === '--notes') {
      if (!setFormat(a.slice(2) as Format)) return 2;
    } else if (a === '--detailed') detailed = true;
    else if (a.startsWith('-') && a !== '-') {
      err(`tsbpf inspect: unknown option ${a}\n\n${USAGE}\n`);
      return 2;
    } else if (object === undefined) object = a;
    else {
      err(`tsbpf inspect: more than one object given (${object}, ${a})\n\n${USAGE}\n`);
      return 2;
    }
  }
  if (object === undefined) {
    err(`tsbpf inspect: no object given\n\n${USAGE}\n`);
    return 2;
  }
  return { object, format: format ?? 'summary', detailed };
}

function formatValue(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? '-';
  } catch {
    return '-';
  }
}

/** Gadget parameters and tracers for the summary, when the object follows the gadget conventions. */
function gadgetSummary(spec: CollectionSpec): Pick<SummaryOptions, 'parameters' | 'tracers'> {
  let meta: ReturnType<typeof readGadgetMetadata>;
  try {
    meta = readGadgetMetadata(spec);
  } catch {
    return {}; // not a gadget, or a broken one: the summary still describes the object
  }
  if (meta.params.length === 0 && meta.tracers.length === 0) return {};
  return {
    parameters: meta.params.map((p) => {
      let defaultValue: string | undefined;
      try {
        defaultValue = formatValue(p.spec.get());
      } catch {
        defaultValue = undefined;
      }
      const type = btfTypeName(p.spec.btf, p.spec.typeId);
      return {
        name: p.name,
        ...(type !== undefined ? { type } : {}),
        ...(defaultValue !== undefined ? { defaultValue } : {}),
        description: `variable ${p.variable}`,
      };
    }),
    tracers: meta.tracers.map((t) => ({ name: t.name, map: t.mapName, structName: `struct ${t.structName}` })),
  };
}

/** Run `tsbpf inspect` with `argv` (the arguments after `inspect`); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const out = (s: string): void => void process.stdout.write(s);
  const err = (s: string): void => void process.stderr.write(s);
  const args = parseArgs(argv, err, out);
  if (typeof args === 'number') return args;
  try {
    const spec = CollectionSpec.fromFile(args.object);
    const model = buildModel(analysisInput(spec), { detailed: args.detailed });
    switch (args.format) {
      case 'mermaid':
        out(renderMermaidMarkdown(model));
        break;
      case 'json':
        out(renderJson(model));
        break;
      case 'notes':
        out(renderDeveloperNotes(model, { gadgetName: basename(args.object).replace(/(\.bpf)?\.o$/, '') }));
        break;
      default:
        out(renderSummary(model, { objectPath: args.object, ...gadgetSummary(spec) }));
    }
    return 0;
  } catch (e) {
    if (e instanceof TsbpfError) {
      err(`tsbpf inspect: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
