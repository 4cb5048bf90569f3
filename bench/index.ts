/**
 * `npm run bench`: every benchmark, each printing our figures, the baseline measured in the same
 * process, and the ratio against its target. Exits non-zero if a target is missed, so a
 * regression is visible, but it is not part of `npm test` (timing is not a test).
 */
import { runCoreBench } from './core.bench.ts';
import { runHubBench } from './hub.bench.ts';
import { runStoreBench } from '../hub/src/store/file-store.bench.ts';
import { startBenchEnvironment } from './environment.ts';
import { runRpcBench } from './rpc.bench.ts';
import { runPaymentsBench } from './payments.bench.ts';
import { runDemoBench } from './demo.bench.ts';
import { runUpdatesBench } from './updates.bench.ts';

const results: { name: string; met: boolean }[] = [];
results.push(...(await runCoreBench()));
results.push(...(await runStoreBench()));
results.push(...(await runHubBench()));
const env = await startBenchEnvironment();
try {
  results.push(...(await runRpcBench(env)));
  results.push(...(await runUpdatesBench(env)));
  results.push(...(await runPaymentsBench(env)));
  results.push(...(await runDemoBench(env)));
} finally {
  await env.close();
}

const missed = results.filter((r) => !r.met);
console.log(`\n${results.length - missed.length} of ${results.length} targets met${missed.length ? `; missed: ${missed.map((m) => m.name).join(', ')}` : ''}`);
process.exitCode = missed.length ? 1 : 0;
