/**
 * Checks through `@tsbpf/gadget-cap`: the package imports (its attach/event checks come with the
 * gadget API).
 *
 * @packageDocumentation
 */
import { pass, type Check } from './types.js';

/** Gadget checks. */
export const checks: readonly Check[] = [
  {
    name: 'gadget-cap/import',
    run: async () => {
      const name = '@tsbpf/gadget-cap';
      const mod = (await import(name)) as Record<string, unknown>;
      return pass(`${Object.keys(mod).length} exports`);
    },
  },
];
