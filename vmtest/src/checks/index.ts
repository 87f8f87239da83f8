/**
 * Every guest check area, in run order. To add an area: create `checks/<area>.ts` exporting
 * `checks` (a list or a function of the context) and list it here.
 *
 * @packageDocumentation
 */
import { checks as attach } from './attach.js';
import { checks as gadget } from './gadget.js';
import { checks as kernel } from './kernel.js';
import { checks as loader } from './loader.js';
import { checks as objects } from './objects.js';
import { checks as streams } from './streams.js';
import type { CheckSource } from './types.js';

/** Check areas in run order: kernel facts first (no loader needed), then the packages. */
export const CHECK_AREAS: readonly { readonly area: string; readonly source: CheckSource }[] = [
  { area: 'kernel', source: kernel },
  { area: 'loader', source: loader },
  { area: 'objects', source: objects },
  { area: 'attach', source: attach },
  { area: 'streams', source: streams },
  { area: 'gadget-cap', source: gadget },
];

export * from './types.js';
