#!/usr/bin/env node
// A second gadget on the generic runtime: bpf/gadgets/trace_exec.bpf.o reports every exec.
// Nothing here knows the event layout: the runtime reads the tracer, parameters and struct from
// the object's symbols and BTF, decodes records by BTF, and the loader's format module prints them.
//
//   sudo node examples/trace-exec.mjs [--seconds 10] [--ppid N] [--comm NAME] [-o columns|json]
//
// Public API of @tsbpf/loader only (build first: npm run build).
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CollectionSpec, ColumnsRenderer, GadgetRun, columnsFromDescriptors, findParam, formatJsonLine, parseParamValue, readGadgetMetadata } from '@tsbpf/loader';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    ppid: { type: 'string' },
    comm: { type: 'string' },
    output: { type: 'string', short: 'o', default: 'columns' },
  },
});

const spec = CollectionSpec.fromFile(fileURLToPath(new URL('../bpf/gadgets/trace_exec.bpf.o', import.meta.url)));
// Parameters by their display names, parsed against their BTF types (generic: any gadget works).
const meta = readGadgetMetadata(spec);
const params = {};
for (const [name, text] of Object.entries({ ppid: values.ppid, comm: values.comm })) {
  if (text === undefined) continue;
  const p = findParam(meta.params, name);
  if (!p) throw new Error(`trace_exec has no parameter ${name}`);
  params[p.variable] = parseParamValue(p, text);
}

const run = GadgetRun.start(spec, { params, onWarning: (m) => console.error(`warning: ${m}`) });
const decoder = run.decoder();
const stop = () => run.close();
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
const timer = setTimeout(stop, Number(values.seconds) * 1000);
console.error(`tracing execs (tracer ${run.tracer.name}, struct ${run.tracer.structName}, ${run.output})… Ctrl-C to stop`);

const columns = values.output === 'columns' ? new ColumnsRenderer(columnsFromDescriptors(decoder.fields), { fields: 'timestamp,proc.comm,proc.pid,proc.parent.pid,proc.creds.uid,filename' }) : undefined;
if (columns) console.log(columns.header());
let n = 0;
for await (const event of run.events(decoder)) {
  n++;
  process.stdout.write(columns ? `${columns.row(event)}\n` : formatJsonLine(event));
}
clearTimeout(timer);
console.error(`${n} exec(s)`);
