// npm test: every check, in order, streaming each step's output. Keeps going after a failure so
// all results are shown, then prints a summary whose very last line is "N passed, N failed":
// vitest tests + Playwright tests (from their JSON reports) + typecheck, lint and the wallet and sdk builds (one each).
// Exits 1 if anything failed or a report is missing.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'node_modules', '.bin');
const VITEST_REPORT = join(ROOT, '.local', 'vitest-results.json');
const PLAYWRIGHT_REPORT = join(ROOT, '.local', 'e2e-results.json');

type StepResult = { name: string; code: number; ms: number };
type VitestFile = { name?: string; status?: string; message?: string; assertionResults?: { status?: string; fullName?: string; failureMessages?: string[] }[] };
type PlaywrightSuite = {
  file?: string;
  specs?: { title?: string; line?: number; tests?: { results?: { status?: string; error?: { message?: string } }[] }[] }[];
  suites?: PlaywrightSuite[];
};
/** A failed test and why, shown again just above the summary: CI keeps only a log's tail. */
type Failure = { title: string; message: string };
type Check = { name: string; passed: number; failed: number; note: string };

function run(name: string, cmd: string, args: string[]): Promise<StepResult> {
  const shown = [cmd.startsWith(ROOT) ? cmd.slice(ROOT.length) : cmd, ...args].join(' ');
  console.log(`\n━━━ ${name}: ${shown}`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit' });
    child.once('error', (err) => {
      console.error(`${name}: cannot run ${shown}: ${err.message}`);
      resolve({ name, code: 1, ms: Date.now() - started });
    });
    child.once('exit', (code, signal) => {
      resolve({ name, code: code ?? (signal ? 1 : 0), ms: Date.now() - started });
    });
  });
}

function readJson(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** A step counted as one check: passed iff it exited 0. */
function stepCheck(step: StepResult): Check {
  return step.code === 0
    ? { name: step.name, passed: 1, failed: 0, note: 'ok' }
    : { name: step.name, passed: 0, failed: 1, note: `exit code ${step.code}` };
}

function vitestCheck(step: StepResult): Check {
  const report = readJson(VITEST_REPORT) as Record<string, unknown> | undefined;
  if (!report) {
    return { name: 'unit tests (vitest)', passed: 0, failed: 1, note: `report missing: ${VITEST_REPORT} (exit code ${step.code})` };
  }
  const passed = num(report['numPassedTests']);
  const failedTests = num(report['numFailedTests']);
  const skipped = num(report['numPendingTests']) + num(report['numTodoTests']);
  // A test file that fails to load (or fails in a hook) has no failed test: count it as one failure.
  const files = Array.isArray(report['testResults']) ? (report['testResults'] as VitestFile[]) : [];
  const brokenFiles = files.filter(
    (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
  ).length;
  let failed = failedTests + brokenFiles;
  const notes = [`${passed} passed`, `${failedTests} failed`];
  if (skipped) notes.push(`${skipped} skipped`);
  if (brokenFiles) notes.push(`${brokenFiles} file(s) failed outside tests, counted as 1 failure each`);
  // E.g. an unhandled error fails the run without failing a test.
  if (step.code !== 0 && failed === 0) {
    failed = 1;
    notes.push(`vitest exited ${step.code} without a failed test: counted as 1 failure`);
  }
  return { name: 'unit tests (vitest)', passed, failed, note: notes.join(', ') };
}

/** The failed tests in both reports, with the first lines of each one's error. */
function failures(): Failure[] {
  const out: Failure[] = [];
  const vitest = readJson(VITEST_REPORT) as { testResults?: VitestFile[] } | undefined;
  for (const file of vitest?.testResults ?? []) {
    const name = (file.name ?? '').startsWith(ROOT) ? file.name!.slice(ROOT.length) : (file.name ?? '');
    const failed = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of failed) out.push({ title: `${name} › ${a.fullName ?? ''}`, message: (a.failureMessages ?? []).join('\n') });
    if (file.status === 'failed' && failed.length === 0) out.push({ title: name, message: file.message ?? '' });
  }
  const playwright = readJson(PLAYWRIGHT_REPORT) as { suites?: PlaywrightSuite[]; errors?: { message?: string }[] } | undefined;
  const walk = (suite: PlaywrightSuite): void => {
    for (const spec of suite.specs ?? []) {
      for (const test of spec.tests ?? []) {
        const bad = (test.results ?? []).filter((r) => r.status !== 'passed' && r.status !== 'skipped');
        for (const r of bad) out.push({ title: `${suite.file ?? ''}:${spec.line ?? ''} › ${spec.title ?? ''} (${r.status})`, message: r.error?.message ?? '' });
      }
    }
    for (const child of suite.suites ?? []) walk(child);
  };
  for (const suite of playwright?.suites ?? []) walk(suite);
  for (const e of playwright?.errors ?? []) out.push({ title: 'playwright, outside tests', message: e.message ?? '' });
  return out;
}

function printFailures(list: Failure[]): void {
  if (list.length === 0) return;
  console.log('\n━━━ Failed tests');
  for (const f of list.slice(0, 10)) {
    console.log(`  ✘ ${f.title}`);
    // eslint-disable-next-line no-control-regex
    const lines = f.message.replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => l.trim() !== '');
    for (const line of lines.slice(0, 8)) console.log(`      ${line}`);
    if (lines.length > 8) console.log(`      … ${lines.length - 8} more line(s), in the step's output above`);
  }
  if (list.length > 10) console.log(`  … and ${list.length - 10} more failed test(s)`);
}

function playwrightCheck(step: StepResult | undefined): Check {
  const name = 'e2e tests (playwright)';
  if (!step) return { name, passed: 0, failed: 1, note: 'not run: Chromium is missing; report missing' };
  const report = readJson(PLAYWRIGHT_REPORT) as { stats?: Record<string, unknown>; errors?: unknown[] } | undefined;
  if (!report?.stats) {
    return { name, passed: 0, failed: 1, note: `report missing: ${PLAYWRIGHT_REPORT} (exit code ${step.code})` };
  }
  const { stats } = report;
  const flaky = num(stats['flaky']);
  const passed = num(stats['expected']) + flaky;
  let failed = num(stats['unexpected']);
  const skipped = num(stats['skipped']);
  const errors = Array.isArray(report.errors) ? report.errors.length : 0;
  const notes = [`${passed} passed`, `${failed} failed`];
  if (flaky) notes.push(`${flaky} flaky`);
  if (skipped) notes.push(`${skipped} skipped`);
  if (errors) notes.push(`${errors} error(s) outside tests`);
  if ((step.code !== 0 || errors > 0) && failed === 0) {
    failed = 1;
    notes.push(`playwright exited ${step.code} without a failed test: counted as 1 failure`);
  }
  return { name, passed, failed, note: notes.join(', ') };
}

async function main(): Promise<number> {
  mkdirSync(join(ROOT, '.local'), { recursive: true });
  // Stale reports must never be counted.
  rmSync(VITEST_REPORT, { force: true });
  rmSync(PLAYWRIGHT_REPORT, { force: true });

  const node = process.execPath;
  const chromium = await run('ensure chromium', node, ['--import', 'tsx', join(ROOT, 'scripts', 'ensure-chromium.ts')]);
  const typecheck = await run('typecheck', join(BIN, 'tsc'), ['-p', 'tsconfig.json', '--noEmit']);
  const lint = await run('lint', join(BIN, 'eslint'), ['.']);
  const vitest = await run('unit tests (vitest)', join(BIN, 'vitest'), [
    'run',
    '--reporter=verbose',
    '--reporter=json',
    `--outputFile.json=${VITEST_REPORT}`,
  ]);
  const build = await run('build', join(BIN, 'vite'), ['build']);
  const buildSdk = await run('build sdk-client', join(BIN, 'tsc'), ['-p', 'sdk-client/tsconfig.build.json']);
  let e2e: StepResult | undefined;
  if (chromium.code === 0) {
    e2e = await run('e2e tests (playwright)', join(BIN, 'playwright'), ['test']);
  } else {
    console.log('\n━━━ e2e tests (playwright): skipped, Chromium is not installed (see above).');
  }

  const checks: Check[] = [
    stepCheck(typecheck),
    stepCheck(lint),
    vitestCheck(vitest),
    stepCheck(build),
    stepCheck(buildSdk),
    playwrightCheck(e2e),
  ];
  const steps = new Map([chromium, typecheck, lint, vitest, build, buildSdk, ...(e2e ? [e2e] : [])].map((s) => [s.name, s]));

  printFailures(failures());
  console.log('\n━━━ Summary');
  if (chromium.code !== 0) console.log(`  FAIL  ensure chromium: exit code ${chromium.code}`);
  for (const check of checks) {
    const ms = steps.get(check.name)?.ms;
    const time = ms === undefined ? '' : ` (${(ms / 1000).toFixed(1)} s)`;
    console.log(`  ${check.failed > 0 ? 'FAIL' : 'ok  '}  ${check.name}${time}: ${check.note}`);
  }
  const passed = checks.reduce((n, c) => n + c.passed, 0);
  const failed = checks.reduce((n, c) => n + c.failed, 0);
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 || chromium.code !== 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    console.log('0 passed, 1 failed');
    process.exitCode = 1;
  },
);
