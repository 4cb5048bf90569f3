import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { exampleChannel, exampleObjective } from '../../../engine/src/store/examples.ts';
import { describeStoreContract } from '../../../engine/src/store/store-contract.ts';
import { FileStore, StoreClosedError, StoreCorruptError, StoreLockedError, StoreValueError } from './file-store.ts';
import { WRITERS, crashTestCommit } from './testing/commit-loop.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./testing/commit-loop.ts', import.meta.url));

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-store-test-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const journals = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('journal-')).sort();
const lastJournal = (dir: string) => join(dir, journals(dir).at(-1)!);

describeStoreContract('FileStore', async () => {
  const dir = freshDir();
  let current = await FileStore.open(dir);
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = await FileStore.open(dir);
      return current;
    },
    dispose: () => current.close(),
  };
});

describe('FileStore', () => {
  it('round-trips channels and objectives with bigints through the disk', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    const channels = [1, 2, 3].map((n) => exampleChannel(n, n));
    for (const c of channels) await store.commit({ channel: c, objective: exampleObjective(c, 'active', c.states[0]!.state.turnNum) });
    await store.close();
    // On disk the amounts are tagged decimal strings, not numbers that would lose digits.
    const text = readFileSync(lastJournal(dir), 'utf8');
    expect(text).toContain('"amount":{"$bigint":"123456789012345678901235567"}'); // channel 1, turn 1
    expect(text).not.toMatch(/"amount":\d/);

    const again = await FileStore.open(dir);
    for (const c of channels) {
      const read = (await again.getChannel(c.id))!;
      expect(read).toStrictEqual(c);
      expect(typeof read.states[1]!.state.outcome[0]!.allocations[1]!.amount).toBe('bigint');
      expect(await again.getObjective(exampleObjective(c, 'active', c.states[0]!.state.turnNum).id)).toStrictEqual(exampleObjective(c, 'active', c.states[0]!.state.turnNum));
    }
    await again.close();
  });

  it('reopens after close, again and again, and goes on appending', async () => {
    const dir = freshDir();
    for (let round = 0; round < 3; round++) {
      const store = await FileStore.open(dir);
      expect(store.recovery.seq).toBe(round * 10);
      expect(await store.listChannels()).toHaveLength(round * 10);
      for (let i = 0; i < 10; i++) await store.commit({ channel: exampleChannel(round * 10 + i) });
      await store.close();
    }
    const store = await FileStore.open(dir);
    expect((await store.listChannels()).map((c) => c.id).sort()).toEqual(Array.from({ length: 30 }, (_, i) => exampleChannel(i).id).sort());
    expect(journals(dir)).toHaveLength(1);
    await store.close();
  });

  it('cuts off a torn last line and keeps everything before it', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    for (let i = 0; i < 3; i++) await store.commit({ channel: exampleChannel(i) });
    await store.close();
    const path = lastJournal(dir);
    const size = statSync(path).size;
    // An append cut short: part of a line, no newline.
    appendFileSync(path, '1a2b3c4d {"seq":4,"ops":[{"table":"channel","id":"0x00');
    const reopened = await FileStore.open(dir);
    expect(reopened.recovery.tornBytes).toBeGreaterThan(0);
    expect(statSync(path).size).toBe(size);
    expect(await reopened.listChannels()).toHaveLength(3);
    await reopened.commit({ channel: exampleChannel(3) });
    await reopened.close();

    // A whole line whose newline never made it is torn too: its commit was never acknowledged.
    const line = readFileSync(path, 'utf8').trimEnd().split('\n').at(-1)!;
    writeFileSync(path, readFileSync(path, 'utf8').trimEnd()); // drop the final newline
    expect(line).toContain('"seq":4');
    const third = await FileStore.open(dir);
    expect(third.recovery.tornBytes).toBe(Buffer.byteLength(line));
    expect(await third.listChannels()).toHaveLength(3);
    expect(await third.getChannel(exampleChannel(3).id)).toBeUndefined();
    await third.close();
  });

  it('refuses to open when a line before the last is damaged, naming the file, line and offset', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    for (let i = 0; i < 4; i++) await store.commit({ channel: exampleChannel(i) });
    await store.close();
    const path = lastJournal(dir);
    const lines = readFileSync(path, 'utf8').split('\n');
    const offset = Buffer.byteLength(lines.slice(0, 2).join('\n') + '\n');
    lines[2] = lines[2]!.replace('"seq":2', '"seq":7'); // line 3: header, seq 1, then this
    writeFileSync(path, lines.join('\n'));
    const error = await FileStore.open(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreCorruptError);
    expect((error as StoreCorruptError).message).toMatch(new RegExp(`journal-0+1\\.jsonl is damaged at line 3 \\(byte ${offset}\\): checksum mismatch`));
    // It did not take the lock for good: after a repair the directory opens.
    writeFileSync(path, lines.map((l) => l.replace('"seq":7', '"seq":2')).join('\n'));
    const repaired = await FileStore.open(dir);
    expect(await repaired.listChannels()).toHaveLength(4);
    await repaired.close();
  });

  it('treats a damaged but complete last line as damage, not as a torn write', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    for (let i = 0; i < 2; i++) await store.commit({ channel: exampleChannel(i) });
    await store.close();
    const path = lastJournal(dir);
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.slice(0, -20) + 'x'.repeat(19) + '\n');
    await expect(FileStore.open(dir)).rejects.toThrow(/line 3 .*checksum mismatch/);
  });

  it('compacts into a snapshot, drops the old journals, and recovers from snapshot + journal', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir, { compactAfterBytes: 32 * 1024 });
    for (let i = 0; i < 200; i++) {
      const c = exampleChannel(i % 40, i);
      await store.commit({ channel: c, objective: exampleObjective(c, i % 3 ? 'done' : 'active', i % 40) });
    }
    await store.close();
    expect(store.stats.compactions).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'snapshot.jsonl'))).toBe(true);
    expect(journals(dir).length).toBeLessThanOrEqual(2);
    const again = await FileStore.open(dir);
    expect(again.recovery.snapshotSeq).toBeGreaterThan(0);
    expect(again.recovery.seq).toBe(200);
    for (let n = 0; n < 40; n++) {
      const i = 160 + n; // the last commit for channel n
      const c = exampleChannel(n, i);
      expect(await again.getChannel(c.id)).toStrictEqual(c);
      expect(await again.getObjective(exampleObjective(c, 'active', n).id)).toStrictEqual(exampleObjective(c, i % 3 ? 'done' : 'active', n));
    }
    expect((await again.activeObjectives()).length).toBe(Array.from({ length: 40 }, (_, n) => 160 + n).filter((i) => i % 3 === 0).length);
    await again.close();
  });

  it('runs one compaction at a time, however many are asked for while commits go on', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir, { compactAfterBytes: 16 * 1024 });
    for (let wave = 0; wave < 6; wave++) {
      const work: Promise<void>[] = [];
      for (let i = wave * 50; i < wave * 50 + 50; i++) {
        work.push(store.commit({ channel: exampleChannel(i % 50, i) }));
        if (i % 20 === 0) work.push(store.compact(), store.compact());
        if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1)); // let batches and snapshots interleave
      }
      await Promise.all(work);
    }
    const closing = store.compact();
    await store.close();
    await closing;
    expect(store.stats.compactions).toBeGreaterThanOrEqual(6);
    const again = await FileStore.open(dir);
    expect(again.recovery.seq).toBe(300);
    for (let n = 0; n < 50; n++) expect(await again.getChannel(exampleChannel(n).id)).toStrictEqual(exampleChannel(n, 250 + n));
    await again.close();
  });

  it('recovers when a compaction stopped before deleting the old journal, or before renaming its snapshot', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    for (let i = 0; i < 5; i++) await store.commit({ channel: exampleChannel(i) });
    const oldJournal = lastJournal(dir);
    const saved = readFileSync(oldJournal);
    await store.compact();
    for (let i = 5; i < 8; i++) await store.commit({ channel: exampleChannel(i) });
    await store.close();
    expect(existsSync(oldJournal)).toBe(false);
    writeFileSync(oldJournal, saved); // as if the crash came between the rename and the delete
    writeFileSync(join(dir, 'snapshot.jsonl.tmp'), 'half a snapshot'); // and a later compaction's leftovers
    const again = await FileStore.open(dir);
    expect(again.recovery).toMatchObject({ snapshotSeq: 5, replayed: 3, seq: 8 });
    expect(await again.listChannels()).toHaveLength(8);
    expect(existsSync(join(dir, 'snapshot.jsonl.tmp'))).toBe(false);
    await again.compact();
    expect(journals(dir)).toHaveLength(1);
    await again.close();
  });

  it('starts a journal again whose header was torn (a crash just after a compaction began)', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    for (let i = 0; i < 3; i++) await store.commit({ channel: exampleChannel(i) });
    await store.compact();
    await store.close();
    expect(journals(dir)).toEqual(['journal-0000000000000004.jsonl']);
    writeFileSync(lastJournal(dir), readFileSync(lastJournal(dir)).subarray(0, 7));
    const again = await FileStore.open(dir);
    expect(again.recovery).toMatchObject({ snapshotSeq: 3, tornBytes: 7, seq: 3 });
    await again.commit({ channel: exampleChannel(3) });
    await again.close();
    const third = await FileStore.open(dir);
    expect(await third.listChannels()).toHaveLength(4);
    await third.close();
  });

  it('refuses to open when transactions are missing between the snapshot and the journals', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    for (let i = 0; i < 3; i++) await store.commit({ channel: exampleChannel(i) });
    await store.compact();
    await store.commit({ channel: exampleChannel(3) });
    await store.close();
    rmSync(join(dir, 'snapshot.jsonl'));
    await expect(FileStore.open(dir)).rejects.toThrow(/starts at transaction 4, but the snapshot and earlier journals end at 0: transactions are missing/);
  });

  it('group-commits concurrent writers: one write and one sync for many commits', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    await Promise.all(Array.from({ length: 64 }, (_, i) => store.commit({ channel: exampleChannel(i) })));
    expect(store.stats.commits).toBe(64);
    expect(store.stats.batches).toBeLessThanOrEqual(2);
    await store.close();
  });

  it('shows a commit to reads only once it is on disk', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    const c = exampleChannel(1);
    const committing = store.commit({ channel: c, objective: exampleObjective(c) });
    expect(await store.getChannel(c.id)).toBeUndefined();
    expect(await store.activeObjectives()).toEqual([]);
    await committing;
    expect(await store.getChannel(c.id)).toStrictEqual(c);
    expect(await store.activeObjectives()).toHaveLength(1);
    await store.close();
  });

  it('after a failed write accepts no more commits, and a restart recovers what was on disk', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    await store.commit({ channel: exampleChannel(1) });
    // Swap its journal's descriptor for a read-only one, so that the next write fails (EBADF).
    const log = store.log as unknown as { fd: number };
    const real = log.fd;
    log.fd = openSync(lastJournal(dir), 'r');
    closeSync(real);
    await expect(store.commit({ channel: exampleChannel(2) })).rejects.toThrow(/could not write its journal .*restart to recover from disk/);
    await expect(store.commit({ channel: exampleChannel(3) })).rejects.toThrow(/could not write its journal/);
    await store.close();
    const again = await FileStore.open(dir);
    expect((await again.listChannels()).map((c) => c.id)).toEqual([exampleChannel(1).id]);
    await again.close();
  });

  it('refuses values it cannot store exactly, and goes on working', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    class Secret {
      key = 1;
    }
    const bad = { ...exampleObjective(exampleChannel(1)), snapshot: { context: { signer: new Secret() } } };
    await expect(store.commit({ objective: bad })).rejects.toThrow(StoreValueError);
    await expect(store.commit({ objective: bad })).rejects.toThrow(/objective DirectFunding-0x[0-9a-f]+-0: value\.snapshot\.context\.signer: a Secret cannot be stored/);
    await store.commit({ channel: exampleChannel(1) });
    expect(await store.listChannels()).toHaveLength(1);
    await store.close();
    await expect(store.commit({ channel: exampleChannel(2) })).rejects.toThrow(StoreClosedError);
  });

  it('lets one process at a time use a directory, and takes over the lock of a dead one', async () => {
    const dir = freshDir();
    const store = await FileStore.open(dir);
    await expect(FileStore.open(dir)).rejects.toThrow(/already open in this process/);

    // Another process is refused, and told who holds the directory.
    const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD, dir, 'open'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(child.status).toBe(3);
    expect(child.stdout).toContain(`in use by process ${process.pid} on ${hostname()}`);
    expect(child.stdout).toContain(join(dir, 'LOCK'));
    await store.close();

    // A lock left by a process that is gone (kill -9) is taken over: no process has its pid, or
    // the one that has it started at another time (a reused pid; our own, after a container
    // restart), or the machine has rebooted since.
    expect(existsSync(join(dir, 'LOCK'))).toBe(false); // closing released it
    const dead = spawnSync(process.execPath, ['-e', ''], { encoding: 'utf8' });
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const stale = [
        { pid: dead.pid },
        { pid: process.pid, processStart: '1' },
        { pid: sleeper.pid, processStart: '1' },
        { pid: process.pid, bootId: 'another-boot' },
      ];
      for (const lock of stale) {
        writeFileSync(join(dir, 'LOCK'), JSON.stringify({ hostname: hostname(), startedAt: 'then', ...lock }) + '\n');
        const taken = await FileStore.open(dir);
        expect(JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8')).pid).toBe(process.pid);
        await taken.close();
        expect(existsSync(join(dir, 'LOCK'))).toBe(false);
      }
      // A live process with no start time to compare is assumed to hold it.
      writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: sleeper.pid, hostname: hostname(), startedAt: 'then' }) + '\n');
      await expect(FileStore.open(dir)).rejects.toThrow(`in use by process ${sleeper.pid}`);
    } finally {
      sleeper.kill('SIGKILL');
    }

    // A lock from another host is never assumed stale.
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: 1, hostname: 'elsewhere', startedAt: 'then' }) + '\n');
    await expect(FileStore.open(dir)).rejects.toThrow(StoreLockedError);
  });

  describe('kill -9', () => {
    /** Runs the commit loop in a child until `acks` commits are acknowledged, then SIGKILLs it. */
    async function runUntilKilled(dir: string, acks: number): Promise<[number, number][]> {
      const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      const acked: [number, number][] = [];
      let out = '';
      let err = '';
      let killed = false;
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const lines = out.split('\n');
        out = lines.pop()!;
        for (const line of lines) {
          const m = /^ack (\d+) (\d+)$/.exec(line);
          if (m) acked.push([Number(m[1]), Number(m[2])]);
        }
        if (!killed && acked.length >= acks) {
          killed = true;
          child.kill('SIGKILL');
        }
      });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      // 'close' comes after stdout is drained: every ack printed before the kill is in `acked`.
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      expect(signal, `child exited with ${code}: ${err}`).toBe('SIGKILL');
      return acked;
    }

    it('keeps every acknowledged commit, whole, across repeated kill -9 (with compactions under way)', async () => {
      const dir = freshDir();
      const latest = new Map<number, number>();
      for (const acks of [400, 900, 1500]) {
        const acked = await runUntilKilled(dir, acks);
        expect(acked.length).toBeGreaterThanOrEqual(acks);
        const store = await FileStore.open(dir);
        for (const [w, t] of acked) {
          const want = crashTestCommit(w, t).objective;
          expect(await store.getObjective(want.id)).toStrictEqual(want);
          latest.set(w, Math.max(latest.get(w) ?? 0, t));
        }
        for (let w = 0; w < WRITERS; w++) {
          // The channel is at least at the last acknowledged turn; whatever turn it is at, its
          // objective from the same commit is there too, and so is every earlier one.
          const channel = (await store.getChannel(exampleChannel(1000 + w).id))!;
          const turn = channel.states[0]!.state.turnNum;
          expect(turn).toBeGreaterThanOrEqual(latest.get(w) ?? 0);
          expect(channel).toStrictEqual(crashTestCommit(w, turn).channel);
          for (let t = 1; t <= turn; t++) expect(await store.getObjective(`w${w}-t${t}`), `w${w}-t${t}`).toStrictEqual(crashTestCommit(w, t).objective);
        }
        await store.close();
      }
      // Compactions happened while the child ran, so recovery went through snapshot + journal.
      expect(existsSync(join(dir, 'snapshot.jsonl'))).toBe(true);
    });
  });
});
