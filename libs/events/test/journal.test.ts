import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Journal, scanSegment, type DegradedReport, type JournalEntry, type JournalOptions } from '../src/mod.js';
import { crashImage, envelopeJson, faultyFs, memoryLogger, tempDir, until } from './helpers.js';

const text = (e: JournalEntry) => Buffer.from(e.payload).toString();

function appendN(j: Journal, n: number, extra = ''): number[] {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const seq = j.allocateSeq();
    j.append(seq, `n1-b-${seq}`, 'ha.c.evt.n1.check.result', envelopeJson(seq, extra));
    seqs.push(seq);
  }
  return seqs;
}

async function readAll(j: Journal, from = 1): Promise<JournalEntry[]> {
  return j.read(from, { limit: 1_000_000 });
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.jnl')).sort();
}

async function withJournal(options: Partial<JournalOptions>, body: (j: Journal, dir: string) => Promise<void>, dir?: string): Promise<void> {
  const tmp = dir ? null : await tempDir();
  const d = dir ?? tmp!.dir;
  const j = await Journal.open({ dir: d, ...options });
  try {
    await body(j, d);
  } finally {
    await j.close();
    await tmp?.remove();
  }
}

test('appended events become durable in seq order, many to one write and one fsync (group commit)', async () => {
  const { fs, control } = faultyFs();
  const durable: number[] = [];
  let calls = 0;
  await withJournal(
    {
      fs,
      onDurable: (entries) => {
        calls++;
        durable.push(...entries.map((e) => e.seq));
      },
    },
    async (j) => {
      appendN(j, 1000);
      assert.equal(j.durableThrough, 0, 'append only queues');
      await j.flush();
      assert.deepEqual(durable, Array.from({ length: 1000 }, (_, i) => i + 1));
      assert.ok(calls < 1000 && control.syncs < 1000, `groups: ${calls} handoffs, ${control.syncs} syncs for 1000 events`);
      assert.equal(j.durableThrough, 1000);
      const back = await readAll(j);
      assert.deepEqual(back.map((e) => e.seq), durable);
      assert.equal(text(back[41]!), envelopeJson(42));
      assert.equal(back[41]!.id, 'n1-b-42');
      assert.equal(back[41]!.subject, 'ha.c.evt.n1.check.result');
    },
  );
});

test('a journal reopened on the same dir replays what was not acknowledged, and seq continues', async () => {
  const tmp = await tempDir();
  try {
    await withJournal({ ackFlushMs: 1 }, async (j) => {
      appendN(j, 10);
      await j.flush();
      j.ack(4);
    }, tmp.dir);
    await withJournal({}, async (j) => {
      assert.equal(j.recovery.ackedThrough, 4);
      assert.equal(j.recovery.unacknowledged, 6);
      assert.equal(j.nextSeq, 11);
      const back = await j.read(j.ackedThrough + 1);
      assert.deepEqual(back.map((e) => e.seq), [5, 6, 7, 8, 9, 10]);
      assert.deepEqual(back.map(text), [5, 6, 7, 8, 9, 10].map((s) => envelopeJson(s)));
    }, tmp.dir);
  } finally {
    await tmp.remove();
  }
});

test('acknowledged segments are deleted, and seq still continues after the last one is gone', async () => {
  const tmp = await tempDir();
  const big = 'x'.repeat(900);
  try {
    await withJournal({ segmentBytes: 64 * 1024, ackFlushMs: 1 }, async (j, dir) => {
      appendN(j, 300, big);
      await j.flush();
      assert.ok((await segmentFiles(dir)).length >= 4, 'several segments');
      j.ack(300);
      await until(async () => (await segmentFiles(dir)).length === 1, 'all but the active segment deleted');
    }, tmp.dir);
    await withJournal({}, async (j, dir) => {
      assert.equal(j.recovery.unacknowledged, 0);
      assert.equal(j.nextSeq, 301);
      assert.deepEqual(await segmentFiles(dir), [], 'the acknowledged last segment goes at open');
      appendN(j, 1);
      await j.flush();
    }, tmp.dir);
    await withJournal({}, async (j) => {
      assert.equal(j.nextSeq, 302);
      assert.deepEqual((await readAll(j, 301)).map((e) => e.seq), [301]);
    }, tmp.dir);
  } finally {
    await tmp.remove();
  }
});

test('a torn last line after a crash is recovered with a log line, and its seq is given again', async () => {
  const tmp = await tempDir();
  try {
    await withJournal({}, async (j) => {
      appendN(j, 10);
      await j.flush();
    }, tmp.dir);
    const [seg] = await segmentFiles(tmp.dir);
    const path = join(tmp.dir, seg!);
    const size = (await stat(path)).size;
    const lastLine = envelopeJson(10).length;
    await truncate(path, size - Math.floor(lastLine / 2)); // cut in the middle of the last line
    const { log, lines } = memoryLogger();
    await withJournal({ log }, async (j) => {
      assert.equal(j.recovery.tornTails, 1);
      assert.ok(j.recovery.tornBytes > 0);
      assert.equal(j.recovery.corruptEntries, 0);
      assert.equal(j.recovery.unacknowledged, 9);
      assert.equal(j.nextSeq, 10, 'the torn event never left this host: its seq is free');
      assert.ok(lines.some((l) => l.level === 40 && /torn tail/.test(l.msg)));
      appendN(j, 2);
      await j.flush();
      assert.deepEqual((await readAll(j)).map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    }, tmp.dir);
  } finally {
    await tmp.remove();
  }
});

test('garbage after the last entry (zeros, random bytes, a half line) is a torn tail, never a crash', async () => {
  const garbage: [string, Buffer][] = [
    ['zeros', Buffer.alloc(4096)],
    ['random bytes with newlines', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919 + 13) % 256))],
    ['a half line', Buffer.from('0badc0de 11 n1-b-11 ha.c.evt.n1.check.result {"id":"n1-b-1')],
    ['a line with a bad checksum and a newline', Buffer.from('00000000 11 n1-b-11 ha.c.evt.n1.check.result {}\n')],
  ];
  for (const [what, bytes] of garbage) {
    const tmp = await tempDir();
    try {
      await withJournal({}, async (j) => {
        appendN(j, 10);
        await j.flush();
      }, tmp.dir);
      const [seg] = await segmentFiles(tmp.dir);
      await appendFile(join(tmp.dir, seg!), bytes);
      await withJournal({}, async (j) => {
        assert.equal(j.recovery.tornTails, 1, what);
        assert.equal(j.recovery.corruptEntries, 0, what);
        assert.equal(j.recovery.unacknowledged, 10, what);
        assert.equal(j.nextSeq, 11, what);
        assert.deepEqual((await readAll(j)).map((e) => e.seq), Array.from({ length: 10 }, (_, i) => i + 1), what);
      }, tmp.dir);
    } finally {
      await tmp.remove();
    }
  }
});

test('a corrupt entry in the middle is skipped and counted; the entries around it are replayed', async () => {
  const tmp = await tempDir();
  try {
    await withJournal({}, async (j) => {
      appendN(j, 10);
      await j.flush();
    }, tmp.dir);
    const [seg] = await segmentFiles(tmp.dir);
    const path = join(tmp.dir, seg!);
    const buf = await readFile(path);
    const at = buf.indexOf('event number 5');
    buf[at] = 'E'.charCodeAt(0); // one flipped byte: the checksum no longer matches
    await writeFile(path, buf);
    const { log, lines } = memoryLogger();
    await withJournal({ log }, async (j) => {
      assert.equal(j.recovery.corruptEntries, 1);
      assert.equal(j.recovery.tornTails, 0);
      assert.equal(j.recovery.unacknowledged, 9);
      assert.equal(j.nextSeq, 11);
      assert.deepEqual((await readAll(j)).map((e) => e.seq), [1, 2, 3, 4, 6, 7, 8, 9, 10]);
      assert.ok(lines.some((l) => /corrupt entries skipped/.test(l.msg)));
    }, tmp.dir);
  } finally {
    await tmp.remove();
  }
});

test('producers appending concurrently while groups are written lose nothing and keep seq order', async () => {
  const tmp = await tempDir();
  const crash = await tempDir();
  try {
    const durable: number[] = [];
    await withJournal({ segmentBytes: 64 * 1024, onDurable: (es) => durable.push(...es.map((e) => e.seq)) }, async (j, dir) => {
      const producer = async (name: string) => {
        for (let i = 0; i < 250; i++) {
          const seq = j.allocateSeq();
          j.append(seq, `n1-b-${seq}`, 'ha.c.evt.n1.check.result', JSON.stringify({ producer: name, i, seq }));
          if (i % 3 === 0) await new Promise((r) => setImmediate(r));
          else await Promise.resolve();
        }
      };
      const run = Promise.all(['a', 'b', 'c', 'd'].map(producer));
      // A crash image taken while writes are in flight must recover cleanly too.
      await until(() => j.durableThrough > 100, 'some durable');
      await crashImage(dir, join(crash.dir, 'image'));
      await run;
      await j.flush();
      const back = await readAll(j);
      assert.deepEqual(back.map((e) => e.seq), Array.from({ length: 1000 }, (_, i) => i + 1));
      assert.deepEqual(durable, back.map((e) => e.seq));
      for (const name of ['a', 'b', 'c', 'd']) {
        const mine = back.map((e) => JSON.parse(text(e)) as { producer: string; i: number }).filter((p) => p.producer === name);
        assert.deepEqual(mine.map((p) => p.i), Array.from({ length: 250 }, (_, i) => i));
      }
    }, tmp.dir);
    await withJournal({}, async (j) => {
      const back = await readAll(j);
      assert.ok(back.length > 100);
      assert.deepEqual(back.map((e) => e.seq), Array.from({ length: back.length }, (_, i) => i + 1), 'a gapless prefix');
      assert.equal(j.nextSeq, back.length + 1);
    }, join(crash.dir, 'image'));
  } finally {
    await tmp.remove();
    await crash.remove();
  }
});

test('restarting again and again on the same dir keeps seq gapless and replays only the unacknowledged', async () => {
  const tmp = await tempDir();
  try {
    let expectedNext = 1;
    let acked = 0;
    for (let run = 0; run < 6; run++) {
      await withJournal({ ackFlushMs: 1, segmentBytes: 64 * 1024 }, async (j) => {
        assert.equal(j.nextSeq, expectedNext, `run ${run}`);
        assert.equal(j.ackedThrough, acked, `run ${run}`);
        const replay = await readAll(j, acked + 1);
        assert.deepEqual(replay.map((e) => e.seq), Array.from({ length: expectedNext - 1 - acked }, (_, i) => acked + 1 + i), `run ${run} replays`);
        appendN(j, 40 + run * 10);
        await j.flush();
        expectedNext = j.nextSeq;
        acked = j.durableThrough - 7 * (run % 2); // every other run leaves a few unacknowledged
        j.ack(acked);
      }, tmp.dir);
    }
  } finally {
    await tmp.remove();
  }
});

test('a second owner of a state dir is refused; a lock left by a dead process is taken over', async () => {
  const tmp = await tempDir();
  try {
    const first = await Journal.open({ dir: tmp.dir });
    await assert.rejects(Journal.open({ dir: tmp.dir }), (e: Error & { code?: string }) => e.code === 'KQ_ERR_JOURNAL_LOCKED');
    await first.close();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await writeFile(join(tmp.dir, 'lock'), `${dead}\n`);
    const second = await Journal.open({ dir: tmp.dir });
    assert.equal((await readFile(join(tmp.dir, 'lock'), 'utf8')).trim(), String(process.pid));
    await second.close();
    // A live process that is not us: refused.
    await writeFile(join(tmp.dir, 'lock'), '1\n');
    await assert.rejects(Journal.open({ dir: tmp.dir }), /in use by process 1/);
  } finally {
    await tmp.remove();
  }
});

test('a full disk never blocks or throws: events wait in memory and are written once there is room, with a report', async () => {
  const { fs, control } = faultyFs();
  const reports: DegradedReport[] = [];
  const tmp = await tempDir();
  try {
    await withJournal({ fs, retryInitialMs: 5, retryMaxMs: 20, onDegradedEnd: (r) => reports.push(r) }, async (j) => {
      appendN(j, 5);
      await j.flush();
      control.writeError = 'ENOSPC';
      assert.doesNotThrow(() => appendN(j, 50));
      await until(() => j.stats().degraded !== null, 'degraded');
      const s = j.stats();
      assert.equal(s.degraded!.reason, 'write-error');
      assert.equal(s.degraded!.code, 'ENOSPC');
      assert.equal(j.durableThrough, 5);
      assert.doesNotThrow(() => appendN(j, 10), 'still accepts events while degraded');
      await j.flush(); // returns while the disk refuses: never waits for it
      assert.equal(j.durableThrough, 5);
      control.writeError = null;
      await until(() => j.durableThrough === 65, 'written after the disk has room');
      await until(() => reports.length === 1, 'report');
      assert.equal(reports[0]!.reason, 'write-error');
      assert.equal(reports[0]!.code, 'ENOSPC');
      assert.equal(reports[0]!.dropped, 0);
      assert.ok(reports[0]!.heldMax >= 50);
      assert.equal(j.stats().degraded, null);
    }, tmp.dir);
    await withJournal({}, async (j) => {
      const back = await readAll(j);
      assert.deepEqual(back.map((e) => e.seq), Array.from({ length: 65 }, (_, i) => i + 1), 'each event once, in order, the half write cut off');
      assert.equal(j.recovery.tornTails, 0);
    }, tmp.dir);
  } finally {
    await tmp.remove();
  }
});

test('past the memory bound the oldest waiting events are dropped and reported as a seq range', async () => {
  const { fs, control } = faultyFs();
  const reports: DegradedReport[] = [];
  await withJournal({ fs, maxPendingEvents: 10, retryInitialMs: 5, retryMaxMs: 10, onDegradedEnd: (r) => reports.push(r) }, async (j) => {
    control.createError = 'ENOSPC';
    appendN(j, 1);
    await until(() => j.stats().degraded !== null, 'degraded');
    appendN(j, 24);
    assert.equal(j.stats().pendingWrites, 10);
    control.createError = null;
    await until(() => reports.length === 1, 'report');
    assert.equal(reports[0]!.dropped, 15);
    assert.deepEqual(reports[0]!.droppedSeqs, { first: 1, last: 15 });
    assert.deepEqual((await readAll(j)).map((e) => e.seq), Array.from({ length: 10 }, (_, i) => 16 + i));
  });
});

test('a failed fsync abandons the segment and writes the group again in a new one; each entry reads back once', async () => {
  const { fs, control } = faultyFs();
  const tmp = await tempDir();
  try {
    await withJournal({ fs, retryInitialMs: 5 }, async (j) => {
      appendN(j, 5);
      await j.flush();
      control.syncError = 'EIO';
      appendN(j, 5);
      await until(() => j.stats().degraded !== null, 'degraded');
      control.syncError = null;
      await until(() => j.durableThrough === 10, 'written again');
      appendN(j, 5);
      await j.flush();
      assert.deepEqual((await readAll(j)).map((e) => e.seq), Array.from({ length: 15 }, (_, i) => i + 1));
    }, tmp.dir);
    assert.equal((await segmentFiles(tmp.dir)).length, 2);
    await withJournal({}, async (j) => {
      assert.deepEqual((await readAll(j)).map((e) => e.seq), Array.from({ length: 15 }, (_, i) => i + 1));
      assert.equal(j.nextSeq, 16);
    }, tmp.dir);
  } finally {
    await tmp.remove();
  }
});

test('the size cap stops writing with a clear signal, and writing resumes once acknowledged segments are deleted', async () => {
  const full: { maxBytes: number; bytes: number }[] = [];
  const reports: DegradedReport[] = [];
  const big = 'y'.repeat(900);
  await withJournal(
    { maxBytes: 256 * 1024, segmentBytes: 64 * 1024, ackFlushMs: 1, onFull: (i) => full.push(i), onDegradedEnd: (r) => reports.push(r) },
    async (j) => {
      appendN(j, 400, big); // ~400 KB: more than the cap
      await until(() => full.length === 1, 'cap reached');
      await j.flush();
      assert.ok(j.stats().bytes <= 256 * 1024);
      assert.ok(j.stats().pendingWrites > 0);
      assert.equal(j.stats().degraded!.reason, 'size-cap');
      const durable = j.durableThrough;
      j.ack(durable); // JetStream caught up
      await until(() => j.durableThrough === 400, 'the rest written');
      await until(() => reports.length === 1, 'report');
      assert.equal(reports[0]!.reason, 'size-cap');
      assert.equal(reports[0]!.dropped, 0);
      assert.equal(full[0]!.maxBytes, 256 * 1024);
      assert.deepEqual((await readAll(j, durable + 1)).map((e) => e.seq), Array.from({ length: 400 - durable }, (_, i) => durable + 1 + i));
    },
  );
});

test('an unreadable ack pointer means everything journaled is replayed', async () => {
  const tmp = await tempDir();
  try {
    await withJournal({ ackFlushMs: 1 }, async (j) => {
      appendN(j, 8);
      await j.flush();
      j.ack(8);
      appendN(j, 2);
      await j.flush();
    }, tmp.dir);
    await writeFile(join(tmp.dir, 'acked'), Buffer.alloc(512, 0x41));
    await withJournal({}, async (j) => {
      assert.equal(j.recovery.ackPointerDamaged, true);
      assert.equal(j.recovery.unacknowledged, 10);
      assert.equal(j.nextSeq, 11);
    }, tmp.dir);
  } finally {
    await tmp.remove();
  }
});

test('reading back starts at any seq, crosses segments and stops at the limit', async () => {
  await withJournal({ segmentBytes: 64 * 1024 }, async (j, dir) => {
    appendN(j, 500, 'z'.repeat(400));
    await j.flush();
    assert.ok((await segmentFiles(dir)).length > 2);
    assert.deepEqual((await j.read(123, { limit: 300 })).map((e) => e.seq), Array.from({ length: 300 }, (_, i) => 123 + i));
    assert.deepEqual((await j.read(490, { limit: 300 })).map((e) => e.seq), Array.from({ length: 11 }, (_, i) => 490 + i));
    assert.deepEqual((await j.read(100, { limit: 5, through: 102 })).map((e) => e.seq), [100, 101, 102]);
    assert.deepEqual(await j.read(501), []);
  });
});

test('a segment scan skips the header, counts a repeated seq once and tells torn bytes from corrupt lines', () => {
  const line = (seq: number) => {
    // Build lines the way the journal does.
    const rest = `${seq} n1-b-${seq} ha.c.evt.n1.x.y {"seq":${seq}}`;
    return `${crc32(rest).toString(16).padStart(8, '0')} ${rest}\n`;
  };
  const buf = Buffer.from(`#kq-journal 1\n${line(1)}${line(2)}garbage\n${line(3)}${line(2)}${line(4)}half a li`);
  const seen: number[] = [];
  const scan = scanSegment(buf, (e) => void seen.push(e.seq));
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.equal(scan.corrupt, 1);
  assert.equal(scan.duplicates, 1);
  assert.equal(scan.tornBytes, 'half a li'.length);
  assert.equal(scan.lastSeq, 4);
});
