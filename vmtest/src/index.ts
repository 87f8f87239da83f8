/**
 * `@tsbpf/vmtest`: boot a matrix of real Debian kernels in qemu and run a command (normally tsbpf's
 * guest checks or test suites) inside each, sharing the host root read-only over 9p.
 *
 * ```ts
 * import { runInVm, runMatrix, formatMatrixSummary } from '@tsbpf/vmtest';
 * const one = await runInVm({ kernel: '6.1', command: ['node', 'vmtest/dist/guest.js'], timeoutMs: 300_000 });
 * const all = await runMatrix({ command: ['node', '-e', 'console.log(process.version)'] });
 * console.log(formatMatrixSummary(all));
 * ```
 *
 * @packageDocumentation
 */
export { runInVm, guestEnv, type RunInVmOptions, type VmRunResult } from './vm.js';
export {
  runMatrix,
  fetchKernels,
  formatMatrixSummary,
  type MatrixOptions,
  type MatrixResult,
  type MatrixSetupFailure,
} from './matrix.js';
export {
  loadKernels,
  parseKernels,
  selectKernels,
  cacheRoot,
  packageRoot,
  repoRoot,
  VmtestConfigError,
  type KernelEntry,
  type FeatureExpectations,
} from './config.js';
export {
  PrivateApt,
  AptError,
  compareDebianVersions,
  parsePackagesIndex,
  selectKernelPackages,
  systemDebianMirror,
  type AptSource,
  type PackageRecord,
  type KernelSelection,
} from './apt.js';
export { ensureKernel, refreshIndexes, type PreparedKernel } from './kernels.js';
export { ExtractError, type KernelManifest } from './extract.js';
export { planModuleLoad, ModuleError, type LoadPlan, type ModuleInfo } from './modules.js';
export { buildInitramfs, initScript, readCpio, writeCpio, type CpioEntry, type InitOptions } from './initramfs.js';
export { qemuArgs, detectAccel, runQemu, type QemuOptions, type QemuExit } from './qemu.js';
export {
  parseGuestOutput,
  stripSerialNoise,
  SerialLineSplitter,
  formatResultLine,
  type GuestReport,
  type TestResult,
  type TestStatus,
  type RunStatus,
} from './result.js';
export { ensurePrerequisites, PrerequisiteError, installCommand } from './prereq.js';
export { makeSnapshot, packageSpecifier } from './snapshot.js';
