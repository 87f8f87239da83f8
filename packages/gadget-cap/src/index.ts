/**
 * @tsbpf/gadget-cap — trace every kernel capability check (`cap_capable()`), the TypeScript
 * counterpart of Inspektor Gadget's trace_capabilities.
 *
 * - {@link traceCapabilities} starts a trace and returns a {@link CapabilityTrace}: an async
 *   iterable of typed {@link CapabilityEvent}s with `close()`, `await using` support, an
 *   AbortSignal, `maxEvents` / `timeoutMs`, lost-event counts and the attach strategy chosen.
 * - The strategy (fentry, kprobe or the `cap_capable` tracepoint) is picked from feature probes of
 *   the running kernel ({@link chooseStrategy}); forcing one that cannot run throws an
 *   {@link AttachStrategyError} saying what to do.
 * - {@link CapabilityProfile} turns events into a least-privilege profile (per process and mount
 *   namespace, `--cap-drop=ALL --cap-add=…`, Kubernetes `securityContext`).
 * - {@link runGadgetSelfTest} verifies one strategy end to end (used by the vmtest guest).
 *
 * The `trace-capabilities` CLI (dist/cli.cjs) is a thin layer over these.
 *
 * @example
 * ```ts
 * import { traceCapabilities } from '@tsbpf/gadget-cap';
 * await using trace = traceCapabilities({ comm: 'nginx', timeoutMs: 10_000 });
 * for await (const e of trace) console.log(e.proc.comm, e.cap, e.capable ? 'granted' : 'denied');
 * ```
 * @packageDocumentation
 */
export { traceCapabilities, traceCapabilitiesAsync, CapabilityTrace, type TraceCapabilitiesOptions, type TraceStartTimings } from './trace.js';
export { toCapabilityEvent, effectiveCapabilities, type CapabilityEvent, type CapabilityEventProcess } from './event.js';
export {
  chooseStrategy,
  probeStrategy,
  probeStrategies,
  parseAttachStrategy,
  locateObject,
  objectSearchPath,
  AttachStrategyError,
  KernelBtfMissingError,
  ATTACH_STRATEGIES,
  STRATEGY_OBJECTS,
  type AttachStrategy,
  type StrategyChoice,
  type StrategyProbe,
} from './strategy.js';
export { InsufficientPrivilegesError, checkPrivileges, effectiveCapabilityMask } from './preflight.js';
export {
  CapabilityProfile,
  renderProfileText,
  leastPrivilege,
  shortCapabilityName,
  isOptionalCheck,
  type ProfileReport,
  type ProfileGroup,
  type CapabilityCounts,
  type LeastPrivilege,
} from './profile.js';
export { CAPABILITY_COLUMNS, DEFAULT_FIELDS, normalizeFields } from './columns.js';
export { runGadgetSelfTest, type SelfTestResult, type SelfTestCheck, type SelfTestOptions } from './selftest.js';
