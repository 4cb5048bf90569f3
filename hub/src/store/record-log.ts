/**
 * A durable, generic record store for one process: tables of records by id, all held in memory,
 * every change appended to a journal and synced to disk before its commit resolves.
 *
 * Directory layout:
 *
 *   LOCK                              the owning process (see lock.ts)
 *   snapshot.jsonl                    every record as of sequence number `seq` (absent until the first compaction)
 *   journal-<first seq, 16 digits>.jsonl   transactions after that, in order
 *
 * Every line of both files is `<crc32 of the JSON, 8 hex digits> <JSON>\n`:
 *
 *   journal   {"format":"hub-store-journal","version":1,"start":N}          first line
 *             {"seq":N,"ops":[{"table":"channel","id":"0x…","value":…},
 *                             {"table":"voucher","id":"…","deleted":true}]}  one transaction per line
 *   snapshot  {"format":"hub-store-snapshot","version":1,"seq":N}           first line
 *             {"table":"channel","id":"0x…","value":…}                       one record per line
 *             {"end":true,"records":count}                                  last line
 *
 * Values are tagged JSON (codec.ts), so bigints and the like come back as they went in. A table
 * is just a name: new kinds of record need no change to the format.
 *
 * In memory each record is held in that tagged form, never handed out: a read decodes a fresh
 * copy, a commit encodes once (for the journal and for memory alike), a snapshot writes the
 * held form as it is, and recovery keeps what it parses.
 *
 * Commits are group-committed: while one batch is being written and synced, later commits queue;
 * the next batch is then written with one write and one sync, and all of its commits resolve.
 * A commit resolves only after its line is on disk, and is applied in memory at that moment, so
 * a read never sees what a crash could take back.
 *
 * Recovery: the snapshot, then the journals in order, skipping transactions the snapshot already
 * holds. A last line without its newline (a crash mid-append) is cut off; any other damage —
 * a bad checksum, a gap in the sequence numbers, an unterminated line before the end — stops
 * `open` with a `StoreCorruptError` naming the file, line and byte offset.
 *
 * Compaction, when the journals outgrow `compactAfterBytes` (and the last snapshot): between two
 * batches a new journal is started (created, synced, directory synced), and the records as of
 * that moment are written in the background to `snapshot.jsonl.tmp`, synced, renamed over
 * `snapshot.jsonl`, and the directory synced; only then are the older journals deleted. A crash
 * at any point leaves a snapshot and journals that together hold every committed transaction.
 */
import { type FileHandle, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { close as closeFd, constants as fsConstants, fdatasync, open as openFd, write } from 'node:fs';
import { promisify } from 'node:util';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { crc32 } from 'node:zlib';
import { type Json, StoreValueError, fromTagged, toTagged } from './codec.ts';
import { type DirectoryLock, lockDirectory } from './lock.ts';

export type RecordOp = { table: string; id: string; value: unknown } | { table: string; id: string; deleted: true };

export type StoreLog = (event: string, fields: Record<string, string | number | boolean>) => void;

export interface RecordLogOptions {
  /** Compact when the journals hold more than this many bytes (and more than the last snapshot). Default 64 MiB. */
  compactAfterBytes?: number;
  /**
   * Called for each change as it is applied (during recovery, and for each commit once it is on
   * disk), in journal order, for keeping indexes. `stored` is the record in its stored form
   * (codec.ts: strings, booleans and finite numbers as they were; `fromTagged` decodes the rest),
   * undefined for a deletion. It is the store's own copy: do not modify it.
   */
  onApply?: (table: string, id: string, stored: Json | undefined) => void;
  log?: StoreLog;
}

export interface RecoveryReport {
  /** The snapshot's sequence number (0 without a snapshot). */
  snapshotSeq: number;
  snapshotRecords: number;
  journals: number;
  /** Transactions replayed from the journals (after the snapshot). */
  replayed: number;
  /** Bytes of a torn last line that were cut off (0 if none). */
  tornBytes: number;
  /** The last sequence number. */
  seq: number;
}

export interface RecordLogStats {
  seq: number;
  commits: number;
  batches: number;
  compactions: number;
  journalBytes: number;
  snapshotBytes: number;
}

export class StoreCorruptError extends Error {
  override readonly name = 'StoreCorruptError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly offset: number,
    readonly problem: string,
  ) {
    super(
      `store file ${file} is damaged at line ${line} (byte ${offset}): ${problem}. ` +
        'Only a torn last line of the newest journal (a crash mid-write) is repaired automatically; this needs a person: restore the directory from a backup, or inspect the file.',
    );
  }
}

export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError';
}

const SNAPSHOT = 'snapshot.jsonl';
const SNAPSHOT_TMP = 'snapshot.jsonl.tmp';
const JOURNAL_RE = /^journal-(\d{16})\.jsonl$/;
const JOURNAL_FORMAT = 'hub-store-journal';
const SNAPSHOT_FORMAT = 'hub-store-snapshot';
const VERSION = 1;
const READ_CHUNK = 1 << 20;
const WRITE_CHUNK = 1 << 20;
/** A batch (one write, one sync) takes queued commits up to about this much JSON. */
const MAX_BATCH_CHARS = 4 << 20;

const journalName = (start: number) => `journal-${String(start).padStart(16, '0')}.jsonl`;

/** One line: checksum, space, JSON, newline. */
function frame(json: string): string {
  return crc32(json).toString(16).padStart(8, '0') + ' ' + json + '\n';
}

async function writeFully(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, null);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten}`);
    off += bytesWritten;
  }
}

const openJournalFd = promisify(openFd);
const closeJournalFd = promisify(closeFd);

/**
 * Appends `buf` to the journal and `fdatasync`s it. The callback API, not a FileHandle: this is
 * the path every batch takes, and it costs noticeably less CPU per call.
 */
function appendDurably(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const step = () =>
      write(fd, buf, off, buf.length - off, null, (e, n) => {
        if (e) return reject(e);
        if (n <= 0) return reject(new Error(`write returned ${n}`));
        off += n;
        if (off < buf.length) return step();
        fdatasync(fd, (e2) => (e2 ? reject(e2) : resolve()));
      });
    step();
  });
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

interface Line {
  /** 1-based. */
  number: number;
  offset: number;
  bytes: Buffer;
  /** False for trailing bytes with no newline: an append cut short. */
  terminated: boolean;
}

/** The lines of a file, read in chunks. */
async function* readLines(path: string): AsyncGenerator<Line> {
  const fh = await open(path, 'r');
  try {
    let carry: Buffer = Buffer.alloc(0);
    let carryOffset = 0;
    let number = 0;
    let pos = 0;
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, READ_CHUNK, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      let data: Buffer = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : Buffer.from(chunk.subarray(0, bytesRead));
      let dataOffset = carry.length ? carryOffset : pos - bytesRead;
      let nl: number;
      while ((nl = data.indexOf(10)) >= 0) {
        yield { number: ++number, offset: dataOffset, bytes: data.subarray(0, nl), terminated: true };
        data = data.subarray(nl + 1);
        dataOffset += nl + 1;
      }
      carry = data;
      carryOffset = dataOffset;
    }
    if (carry.length) yield { number: ++number, offset: carryOffset, bytes: carry, terminated: false };
  } finally {
    await fh.close();
  }
}

type Obj = { [key: string]: Json };

/** Checks a line's checksum and parses its JSON object; returns a problem description on failure. */
function parseLine(bytes: Buffer): Obj | string {
  if (bytes.length < 10 || bytes[8] !== 32) return 'not a "<checksum> <json>" line';
  const hex = bytes.toString('latin1', 0, 8);
  if (!/^[0-9a-f]{8}$/.test(hex)) return 'not a "<checksum> <json>" line';
  const body = bytes.subarray(9);
  const actual = crc32(body);
  if (actual !== parseInt(hex, 16)) return `checksum mismatch (line says ${hex}, content has ${actual.toString(16).padStart(8, '0')})`;
  let j: Json;
  try {
    j = JSON.parse(body.toString('utf8')) as Json;
  } catch (e) {
    return `not JSON (${(e as Error).message})`;
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) return 'not a JSON object';
  return j;
}

interface AppliedOp {
  table: string;
  id: string;
  /** The tagged form; present unless deleted. */
  value?: Json;
  deleted: boolean;
}

/** A journal op as parsed from disk. */
function parseOp(j: Json): AppliedOp | string {
  if (j === null || typeof j !== 'object' || Array.isArray(j)) return 'an op is not an object';
  const { table, id } = j;
  if (typeof table !== 'string' || !table || typeof id !== 'string') return 'an op lacks its table or id';
  if (j.deleted === true) return { table, id, deleted: true };
  if (!('value' in j)) return `op ${table}/${id} has neither value nor deleted`;
  try {
    fromTagged(j.value!); // only to check it: a record that cannot be read is damage, found now
    return { table, id, value: j.value!, deleted: false };
  } catch (e) {
    return e instanceof StoreValueError ? `op ${table}/${id}: value${e.path}: ${e.problem}` : String(e);
  }
}

interface Pending {
  /** The ops as JSON, comma-separated (undefined for an empty commit). */
  text: string | undefined;
  ops: AppliedOp[];
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Journal {
  start: number;
  path: string;
  bytes: number;
}

export class RecordLog {
  private readonly tables = new Map<string, Map<string, Json>>();
  private readonly compactAfterBytes: number;
  private readonly onApply: RecordLogOptions['onApply'];
  private readonly log: StoreLog;

  private seq = 0;
  private snapshotSeq = 0;
  private snapshotBytes = 0;
  /** Live journals, oldest first; the last is the one being appended to. */
  private journals: Journal[] = [];
  /** The newest journal, open for appending. */
  private fd: number | undefined;

  private pending: Pending[] = [];
  private writer: Promise<void> | undefined;
  private rotateRequested = false;
  private compaction: Promise<void> | undefined;
  private compactionWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** After a failed compaction, the journal size at which to try again. */
  private retryCompactionAt = 0;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  private counters = { commits: 0, batches: 0, compactions: 0 };
  private report!: RecoveryReport;

  private constructor(
    readonly dir: string,
    private readonly lock: DirectoryLock,
    options: RecordLogOptions,
  ) {
    this.compactAfterBytes = options.compactAfterBytes ?? 64 * 1024 * 1024;
    this.onApply = options.onApply;
    this.log = options.log ?? (() => {});
  }

  /** Opens (creating if need be) the store in `dir`: takes its lock and recovers its records. */
  static async open(dir: string, options: RecordLogOptions = {}): Promise<RecordLog> {
    const created = await mkdir(dir, { recursive: true });
    if (created !== undefined) {
      // New directories must survive a power loss too: sync each one's parent.
      const top = resolvePath(created);
      for (let d = resolvePath(dir); d !== dirname(d); d = dirname(d)) {
        await syncDir(dirname(d));
        if (d === top) break;
      }
    }
    const lock = lockDirectory(dir);
    const store = new RecordLog(dir, lock, options);
    try {
      await store.recover();
    } catch (e) {
      if (store.fd !== undefined) await closeJournalFd(store.fd).catch(() => {});
      lock.release();
      throw e;
    }
    store.maybeCompact();
    return store;
  }

  // ---- reads -------------------------------------------------------------------------------

  /** A copy of the record (the caller's to keep or change), or undefined. */
  get(table: string, id: string): unknown {
    const j = this.tables.get(table)?.get(id);
    return j === undefined ? undefined : fromTagged(j);
  }

  /** Copies of every record in `table`, in the order they were first committed. */
  values(table: string): unknown[] {
    const t = this.tables.get(table);
    return t ? [...t.values()].map((j) => fromTagged(j)) : [];
  }

  /** The ids of `table`'s records. */
  ids(table: string): string[] {
    return [...(this.tables.get(table)?.keys() ?? [])];
  }

  has(table: string, id: string): boolean {
    return this.tables.get(table)?.has(id) ?? false;
  }

  /** What `open` found on disk. */
  get recovery(): RecoveryReport {
    return { ...this.report };
  }

  get stats(): RecordLogStats {
    return {
      seq: this.seq,
      ...this.counters,
      journalBytes: this.journalBytes(),
      snapshotBytes: this.snapshotBytes,
    };
  }

  // ---- writes ------------------------------------------------------------------------------

  /**
   * Applies `ops` as one transaction: all or none of them survive a crash. Resolves once they are
   * on disk (and visible to reads). A value that cannot be stored rejects at once (StoreValueError).
   */
  commit(ops: readonly RecordOp[]): Promise<void> {
    if (this.closing) return Promise.reject(new StoreClosedError(`store ${this.dir} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    let text: string | undefined;
    const applied: AppliedOp[] = [];
    try {
      const parts: string[] = [];
      for (const op of ops) {
        if (typeof op.table !== 'string' || !op.table) throw new TypeError('a record op needs a table name');
        if (typeof op.id !== 'string') throw new TypeError(`a record op on table ${op.table} needs a string id`);
        if ('deleted' in op && op.deleted === true) {
          parts.push(JSON.stringify({ table: op.table, id: op.id, deleted: true }));
          applied.push({ table: op.table, id: op.id, deleted: true });
        } else {
          let tagged: Json;
          try {
            tagged = toTagged((op as { value: unknown }).value);
          } catch (e) {
            if (e instanceof StoreValueError) throw new StoreValueError(`${op.table} ${op.id}: value${e.path}`, e.problem);
            throw e;
          }
          parts.push(JSON.stringify({ table: op.table, id: op.id, value: tagged }));
          // Memory holds exactly what is written, so a read now gives what a restart would.
          applied.push({ table: op.table, id: op.id, value: tagged, deleted: false });
        }
      }
      if (parts.length) text = parts.join(',');
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ text, ops: applied, resolve, reject });
      this.startWriter();
    });
  }

  /** Writes a snapshot now and drops the journals it covers; resolves when done. */
  async compact(): Promise<void> {
    if (this.closing) throw new StoreClosedError(`store ${this.dir} is closed`);
    if (this.failure) throw this.failure;
    return new Promise<void>((resolve, reject) => {
      this.compactionWaiters.push({ resolve, reject });
      this.rotateRequested = true;
      this.startWriter();
    });
  }

  /** Waits for queued commits and any compaction, then closes the files and releases the lock. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // A compaction may request another write-loop turn when it ends (a compact() call that
      // waited for it), so wait until neither is running.
      while (this.writer || this.compaction) {
        await this.writer;
        await this.compaction;
      }
      if (this.fd !== undefined) await closeJournalFd(this.fd).catch(() => {});
      this.fd = undefined;
      this.lock.release();
    })();
    return this.closing;
  }

  private journalBytes(): number {
    let n = 0;
    for (const j of this.journals) n += j.bytes;
    return n;
  }

  private apply(op: AppliedOp): void {
    let t = this.tables.get(op.table);
    if (!t) this.tables.set(op.table, (t = new Map()));
    if (op.deleted) t.delete(op.id);
    else t.set(op.id, op.value!);
    this.onApply?.(op.table, op.id, op.deleted ? undefined : op.value);
  }

  /** Whether the write loop has a compaction to start (only one runs at a time). */
  private rotationDue(): boolean {
    return this.rotateRequested && !this.compaction;
  }

  private startWriter(): void {
    if (this.writer) return;
    this.writer = (async () => {
      await null; // let commits made in the same turn join the first batch
      try {
        await this.writeLoop();
      } catch (e) {
        this.fail(e); // a bug, not an I/O error; still, never leave a commit hanging
      } finally {
        this.writer = undefined;
        if ((this.pending.length || this.rotationDue()) && !this.failure) this.startWriter();
      }
    })();
  }

  private async writeLoop(): Promise<void> {
    while (this.pending.length || this.rotationDue()) {
      if (this.failure) {
        this.rejectAll(this.failure);
        return;
      }
      if (this.rotationDue()) {
        this.rotateRequested = false;
        try {
          await this.rotate();
        } catch (e) {
          this.fail(e);
          continue;
        }
        continue;
      }
      let take = 0;
      for (let chars = 0; take < this.pending.length && chars < MAX_BATCH_CHARS; take++) chars += this.pending[take]!.text?.length ?? 0;
      const batch = this.pending.splice(0, take);
      let text = '';
      for (const p of batch) if (p.text !== undefined) text += frame(`{"seq":${++this.seq},"ops":[${p.text}]}`);
      if (text) {
        const buf = Buffer.from(text, 'utf8');
        try {
          await appendDurably(this.fd!, buf);
        } catch (e) {
          this.fail(e);
          for (const p of batch) p.reject(this.failure!);
          continue;
        }
        this.journals[this.journals.length - 1]!.bytes += buf.length;
      }
      for (const p of batch) for (const op of p.ops) this.apply(op);
      this.counters.commits += batch.length;
      this.counters.batches++;
      for (const p of batch) p.resolve();
      this.maybeCompact();
    }
  }

  private rejectAll(e: Error): void {
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) p.reject(e);
    const waiters = this.compactionWaiters;
    this.compactionWaiters = [];
    for (const w of waiters) w.reject(e);
  }

  /** A write or sync failed: what is on disk is now unknown, so accept nothing more. */
  private fail(e: unknown): void {
    if (this.failure) return;
    const message = e instanceof Error ? e.message : String(e);
    this.failure = new Error(`store ${this.dir} could not write its journal (${message}); it accepts no more commits: restart to recover from disk`, { cause: e });
    this.log('store.failed', { dir: this.dir, error: message });
    this.rejectAll(this.failure);
  }

  private maybeCompact(): void {
    if (this.compaction || this.rotateRequested || this.closing || this.failure) return;
    const bytes = this.journalBytes();
    if (bytes >= this.compactAfterBytes && bytes >= this.snapshotBytes && bytes >= this.retryCompactionAt) {
      this.rotateRequested = true;
      this.startWriter();
    }
  }

  /**
   * Runs in the write loop (no batch in flight): starts a new journal if the current one holds
   * anything, then writes the snapshot in the background.
   */
  private async rotate(): Promise<void> {
    const waiters = this.compactionWaiters;
    this.compactionWaiters = [];
    const upto = this.seq;
    const current = this.journals[this.journals.length - 1]!;
    if (current.start !== upto + 1) {
      let fd: number;
      try {
        fd = await this.createJournal(upto + 1);
      } catch (e) {
        for (const w of waiters) w.reject(e instanceof Error ? e : new Error(String(e)));
        throw e;
      }
      const old = this.fd!;
      this.fd = fd;
      await closeJournalFd(old).catch(() => {});
    }
    // The records as of `upto`. Stored values are never modified in place (a commit replaces
    // them), so copying the maps is enough to keep this view while commits go on.
    const frozen: [string, Map<string, Json>][] = [...this.tables].map(([t, m]) => [t, new Map(m)]);
    const task = this.writeSnapshot(frozen, upto);
    this.compaction = task.then(
      () => {
        this.compaction = undefined;
        this.counters.compactions++;
        for (const w of waiters) w.resolve();
        if (this.rotateRequested) this.startWriter(); // a compact() that came while this one ran
        else this.maybeCompact();
      },
      (e: unknown) => {
        this.compaction = undefined;
        const error = e instanceof Error ? e : new Error(String(e));
        this.retryCompactionAt = this.journalBytes() + this.compactAfterBytes;
        this.log('store.compaction-failed', { dir: this.dir, error: error.message });
        for (const w of waiters) w.reject(error);
        if (this.rotateRequested) this.startWriter();
      },
    );
  }

  /** Creates `journal-<start>.jsonl` with its header, on disk (file and directory entry) before returning. */
  private async createJournal(start: number): Promise<number> {
    const path = join(this.dir, journalName(start));
    const header = Buffer.from(frame(JSON.stringify({ format: JOURNAL_FORMAT, version: VERSION, start })), 'utf8');
    const fd = await openJournalFd(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_APPEND, 0o644);
    try {
      await appendDurably(fd, header);
      await syncDir(this.dir);
    } catch (e) {
      await closeJournalFd(fd).catch(() => {});
      await rm(path, { force: true }).catch(() => {});
      throw e;
    }
    this.journals.push({ start, path, bytes: header.length });
    return fd;
  }

  private async openJournalForAppend(j: Journal): Promise<number> {
    return openJournalFd(j.path, fsConstants.O_WRONLY | fsConstants.O_APPEND);
  }

  private async writeSnapshot(frozen: [string, Map<string, Json>][], seq: number): Promise<void> {
    const tmp = join(this.dir, SNAPSHOT_TMP);
    const fh = await open(tmp, 'w', 0o644);
    let bytes = 0;
    let records = 0;
    try {
      let chunk = frame(JSON.stringify({ format: SNAPSHOT_FORMAT, version: VERSION, seq }));
      for (const [table, m] of frozen) {
        for (const [id, value] of m) {
          chunk += frame(JSON.stringify({ table, id, value }));
          records++;
          if (chunk.length >= WRITE_CHUNK) {
            const buf = Buffer.from(chunk, 'utf8');
            await writeFully(fh, buf); // each await lets commits and reads run meanwhile
            bytes += buf.length;
            chunk = '';
          }
        }
      }
      chunk += frame(JSON.stringify({ end: true, records }));
      const buf = Buffer.from(chunk, 'utf8');
      await writeFully(fh, buf);
      bytes += buf.length;
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, SNAPSHOT));
    await syncDir(this.dir);
    this.snapshotSeq = seq;
    this.snapshotBytes = bytes;
    // Every journal but the newest ends at or before `seq`: the snapshot holds all of it.
    const current = this.journals[this.journals.length - 1]!;
    const covered = this.journals.filter((j) => j !== current && j.start <= seq);
    for (const j of covered) {
      await rm(j.path, { force: true });
      this.journals = this.journals.filter((x) => x !== j);
    }
    if (covered.length) await syncDir(this.dir);
    this.log('store.compacted', { dir: this.dir, seq, records, snapshotBytes: bytes, journalsDropped: covered.length });
  }

  // ---- recovery ----------------------------------------------------------------------------

  private async recover(): Promise<void> {
    await rm(join(this.dir, SNAPSHOT_TMP), { force: true }); // a compaction cut short
    const names = await readdir(this.dir);
    const journals: Journal[] = names
      .map((name) => JOURNAL_RE.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ start: Number(m[1]), path: join(this.dir, m[0]), bytes: 0 }))
      .sort((a, b) => a.start - b.start);

    let snapshotRecords = 0;
    if (names.includes(SNAPSHOT)) snapshotRecords = await this.loadSnapshot(join(this.dir, SNAPSHOT));

    let expected = this.snapshotSeq + 1;
    let replayed = 0;
    let tornBytes = 0;
    let lastNeedsHeader = false;
    for (let i = 0; i < journals.length; i++) {
      const j = journals[i]!;
      const isLast = i === journals.length - 1;
      const name = j.path;
      if (j.start > expected) {
        throw new StoreCorruptError(name, 1, 0, `it starts at transaction ${j.start}, but the snapshot and earlier journals end at ${expected - 1}: transactions are missing`);
      }
      let prev = j.start - 1;
      let sawHeader = false;
      let end = 0;
      for await (const line of readLines(j.path)) {
        const corrupt = (problem: string) => new StoreCorruptError(name, line.number, line.offset, problem);
        if (!line.terminated) {
          if (!isLast) throw corrupt('an unterminated line in a journal that is not the newest');
          tornBytes = line.bytes.length;
          this.log('store.torn-line', { dir: this.dir, file: name, offset: line.offset, bytes: tornBytes });
          break;
        }
        const parsed = parseLine(line.bytes);
        if (typeof parsed === 'string') throw corrupt(parsed);
        end = line.offset + line.bytes.length + 1;
        if (!sawHeader) {
          if (parsed.format !== JOURNAL_FORMAT) throw corrupt(`expected a journal header, got ${JSON.stringify(parsed).slice(0, 80)}`);
          if (parsed.version !== VERSION) throw corrupt(`journal format version ${String(parsed.version)}; this build reads version ${VERSION}`);
          if (parsed.start !== j.start) throw corrupt(`header says it starts at ${String(parsed.start)}, its name says ${j.start}`);
          sawHeader = true;
          continue;
        }
        const seq = parsed.seq;
        if (typeof seq !== 'number' || seq !== prev + 1) throw corrupt(`transaction ${String(seq)} follows ${prev}`);
        prev = seq;
        if (seq <= this.snapshotSeq) continue; // already in the snapshot (a compaction ended before deleting this journal)
        if (seq !== expected) throw corrupt(`transaction ${seq} is also in an earlier journal`);
        if (!Array.isArray(parsed.ops)) throw corrupt('a transaction without ops');
        const ops: AppliedOp[] = [];
        for (const o of parsed.ops) {
          const op = parseOp(o);
          if (typeof op === 'string') throw corrupt(op);
          ops.push(op);
        }
        for (const op of ops) this.apply(op);
        expected = seq + 1;
        replayed++;
      }
      if (tornBytes) await truncateFile(j.path, end);
      j.bytes = end;
      if (!sawHeader) {
        if (!isLast) throw new StoreCorruptError(name, 1, 0, 'an empty journal that is not the newest');
        lastNeedsHeader = true;
      }
    }
    this.seq = expected - 1;
    this.journals = journals;

    const last = journals[journals.length - 1];
    if (!last) {
      this.fd = await this.createJournal(this.seq + 1);
    } else if (lastNeedsHeader) {
      // Created but its header never reached the disk: start it again.
      await unlink(last.path);
      this.journals.pop();
      this.fd = await this.createJournal(this.seq + 1);
    } else {
      this.fd = await this.openJournalForAppend(last);
    }

    this.report = { snapshotSeq: this.snapshotSeq, snapshotRecords, journals: this.journals.length, replayed, tornBytes, seq: this.seq };
    this.log('store.opened', { dir: this.dir, ...this.report });
  }

  private async loadSnapshot(path: string): Promise<number> {
    const name = path;
    let header = false;
    let ended = false;
    let records = 0;
    let size = 0;
    for await (const line of readLines(path)) {
      const corrupt = (problem: string) => new StoreCorruptError(name, line.number, line.offset, problem);
      if (!line.terminated) throw corrupt('an unterminated line (a snapshot is written whole before it is put in place)');
      if (ended) throw corrupt('lines after the end marker');
      const parsed = parseLine(line.bytes);
      if (typeof parsed === 'string') throw corrupt(parsed);
      size = line.offset + line.bytes.length + 1;
      if (!header) {
        if (parsed.format !== SNAPSHOT_FORMAT) throw corrupt('expected a snapshot header');
        if (parsed.version !== VERSION) throw corrupt(`snapshot format version ${String(parsed.version)}; this build reads version ${VERSION}`);
        if (typeof parsed.seq !== 'number' || !Number.isInteger(parsed.seq) || parsed.seq < 0) throw corrupt('the header has no sequence number');
        this.snapshotSeq = parsed.seq;
        header = true;
        continue;
      }
      if (parsed.end === true) {
        if (parsed.records !== records) throw corrupt(`the end marker counts ${String(parsed.records)} records, the file has ${records}`);
        ended = true;
        continue;
      }
      const op = parseOp(parsed);
      if (typeof op === 'string') throw corrupt(op);
      if (op.deleted) throw corrupt('a deletion in a snapshot');
      this.apply(op);
      records++;
    }
    if (!ended) throw new StoreCorruptError(name, 0, size, header ? 'no end marker: the snapshot is incomplete' : 'empty');
    this.snapshotBytes = size;
    return records;
  }
}

async function truncateFile(path: string, length: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.truncate(length);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
