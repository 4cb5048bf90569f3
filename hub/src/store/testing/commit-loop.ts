/**
 * A child process for the store's crash tests (`node --import tsx commit-loop.ts <dir> [mode]`).
 *
 *   loop  (default) opens the FileStore in <dir> and commits for ever from WRITERS concurrent
 *         writers; after each commit resolves it prints `ack <writer> <turn>`. Each commit puts
 *         the writer's channel at `turn` and a new objective `w<writer>-t<turn>` together, so the
 *         parent can check, after a kill -9, that every acknowledged commit is there whole.
 *         A small compaction threshold makes compactions happen while it runs.
 *   open  opens the store and prints `opened`, then waits for stdin to close; if the directory
 *         is locked it prints `locked: <message>` and exits with code 3.
 */
import type { Channel } from '../../../../core/src/protocol/channel.ts';
import { exampleChannel, exampleObjective } from '../../../../engine/src/store/examples.ts';
import type { ObjectiveRecord } from '../../../../engine/src/store/types.ts';
import { pathToFileURL } from 'node:url';
import { FileStore, StoreLockedError } from '../file-store.ts';

export const WRITERS = 8;

/** What writer `w` commits at `turn`. */
export function crashTestCommit(w: number, turn: number): { channel: Channel; objective: ObjectiveRecord } {
  const channel = exampleChannel(1000 + w, turn);
  const objective = { ...exampleObjective(channel, turn % 10 === 0 ? 'active' : 'done', turn), id: `w${w}-t${turn}` };
  return { channel, objective };
}

async function loop(dir: string): Promise<void> {
  const store = await FileStore.open(dir, { compactAfterBytes: 256 * 1024 });
  process.stdout.write(`ready ${JSON.stringify(store.recovery)}\n`);
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      const existing = await store.getChannel(exampleChannel(1000 + w).id);
      let turn = existing ? existing.states[0]!.state.turnNum : 0;
      for (;;) {
        turn++;
        await store.commit(crashTestCommit(w, turn));
        process.stdout.write(`ack ${w} ${turn}\n`);
      }
    }),
  );
}

async function openOnly(dir: string): Promise<void> {
  let store: FileStore;
  try {
    store = await FileStore.open(dir);
  } catch (e) {
    if (e instanceof StoreLockedError) {
      process.stdout.write(`locked: ${e.message}\n`);
      process.exit(3);
    }
    throw e;
  }
  process.stdout.write('opened\n');
  process.stdin.resume();
  process.stdin.on('end', () => void store.close().then(() => process.exit(0)));
}

const [dir, mode = 'loop'] = process.argv.slice(2);
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (!dir) throw new Error('usage: commit-loop.ts <dir> [loop|open]');
  await (mode === 'open' ? openOnly(dir) : loop(dir));
}
