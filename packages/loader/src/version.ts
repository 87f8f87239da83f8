/** The version of `@tsbpf/loader` (its package.json's; a test keeps the two equal). */
export const LOADER_VERSION = '0.1.0';
