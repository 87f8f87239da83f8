#!/usr/bin/env node
// Sum the vitest JSON reports written under a directory (one per package) into the plain line CI
// reads: "N passed, N failed, N skipped". A test file that failed to load counts as one failure;
// a package named in the second argument that wrote no report counts as one failure too.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const expected = (process.argv[3] ?? '').split(',').filter(Boolean);
let passed = 0;
let failed = 0;
let skipped = 0;
const seen = new Set();
if (dir && existsSync(dir)) {
  for (const f of readdirSync(dir).filter((name) => name.endsWith('.json'))) {
    const report = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    seen.add(f.replace(/\.json$/, ''));
    passed += report.numPassedTests ?? 0;
    failed += report.numFailedTests ?? 0;
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    for (const file of report.testResults ?? []) {
      const anyFailed = (file.assertionResults ?? []).some((a) => a.status === 'failed');
      if (file.status === 'failed' && !anyFailed) {
        console.error(`test-summary: ${file.name} failed to run: ${(file.message ?? '').split('\n')[0]}`);
        failed += 1;
      }
    }
  }
}
for (const name of expected) {
  if (!seen.has(name)) {
    console.error(`test-summary: no report from ${name}`);
    failed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 ? 1 : 0;
