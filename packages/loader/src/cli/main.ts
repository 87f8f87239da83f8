#!/usr/bin/env node
/**
 * `tsbpf` — the loader's command line: thin subcommands over the library.
 *   tsbpf inspect <object.o> [--mermaid|--json|--notes] [--detailed]
 *   tsbpf btf dump [--format c|json] [file]
 *   tsbpf features [--json]
 */
import { TsbpfError } from '../errors.js';

type Run = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: Run }> }> = {
  inspect: { summary: 'programs, maps and their interactions in a BPF object (text, mermaid, JSON)', load: () => import('./inspect.js') },
  btf: { summary: 'dump BTF as C (a vmlinux.h generator) or JSON', load: () => import('./btf.js') },
  features: { summary: 'what this kernel supports (map/program types, helpers, attach kinds)', load: () => import('./features.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: tsbpf <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'tsbpf <command> --help' for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`tsbpf: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return (await cmd.load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Our own errors carry a message meant for people; anything else is a bug worth a stack.
    if (err instanceof TsbpfError) console.error(`tsbpf: ${err.message}`);
    else console.error(err);
    process.exitCode = 1;
  },
);
