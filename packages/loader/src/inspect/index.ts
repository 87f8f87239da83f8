/**
 * Program–map interaction analysis and its renderers (Mermaid, JSON, text summary, developer notes).
 *
 *   const model = inspectCollection(CollectionSpec.fromFile('gadget.bpf.o'), { detailed: false });
 *   renderFlowchart(model); renderSequence(model); renderJson(model); renderDeveloperNotes(model);
 */
export { InspectError, type InspectErrorCode } from './errors.js';
export {
  analyzeProgram,
  isGlobalDataMapName,
  GLOBAL_DATA_KINDS,
  MAP_HELPERS,
  type AnalyzeOptions,
  type AnalyzedMap,
  type AnalyzedProgram,
  type Interaction,
  type MapHelper,
} from './analyze.js';
export {
  buildModel,
  combineEdges,
  orderKinds,
  sequenceMessages,
  type InteractionModel,
  type ModelEdge,
  type ModelInput,
  type ModelMessage,
  type ModelOptions,
  type ModelProgram,
} from './model.js';
export { mermaidIds, mermaidLabel, renderFlowchart, renderMermaidMarkdown, renderSequence, type MermaidIds } from './mermaid.js';
export { INSPECT_JSON_VERSION, renderJson, toInspectDocument, type InspectDocument } from './json.js';
export { renderSummary, type SummaryOptions, type SummaryParameter, type SummaryTracer } from './summary.js';
export { renderDeveloperNotes, type NotesOptions } from './notes.js';
export { analysisInput, analyzedMap, analyzedProgram, inspectCollection } from './spec.js';
