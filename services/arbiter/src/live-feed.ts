/**
 * GET /v1/feed: the dashboard's live updates as server-sent events.
 *
 *   event: status     the /v1/status document, when something an operator sees
 *                     changed (holder, epoch, states, priorities, liveness,
 *                     readiness; checked every 500 ms) and every 5 s regardless
 *   event: timeline   one timeline entry (timeline.ts) as the event log stores it
 *   event: problem    {error}: the event log cannot be followed (retried)
 *
 * Nothing runs while nobody listens: the status check and the tail of the
 * event log (libs/events tail(), one for all clients) start with the first
 * client and stop with the last. A client that does not read is dropped once
 * 1 MiB waits for it; at most 64 clients at once (503 past that).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../../libs/common/src/log.js';
import type { TimelineEntry } from './timeline.js';

/** What the feed reads: the status document, and a follower of the event log's timeline entries. */
export interface FeedSource {
  status(): unknown;
  /** Calls `onEntry` for each new timeline entry until the returned stop(); rejects when the log cannot be read. */
  follow(onEntry: (entry: TimelineEntry) => void): { stop(): void; done: Promise<void> };
}

export interface LiveFeedOptions {
  readonly source: FeedSource;
  readonly log: Logger;
  readonly checkEveryMs?: number;
  readonly refreshEveryMs?: number;
  readonly maxClients?: number;
  /** How long a failed tail waits before it is tried again, ms. */
  readonly retryMs?: number;
}

const MAX_BACKLOG = 1024 * 1024;
/** Fields that change on every renewal or every tick: left out of the comparison, not of the document. */
const VOLATILE = new Set(['at', 'renewedAt', 'expiresAt', 'expiresInMs', 'revision', 'heardAt', 'since']);

/** The status document without what changes at every renewal: equal fingerprints, nothing to show. */
export function statusFingerprint(doc: unknown): string {
  return JSON.stringify(doc, (key, value: unknown) => (VOLATILE.has(key) ? undefined : value));
}

/** One server-sent event; `data` as JSON on one line (JSON never holds a raw newline). */
export function sseMessage(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private lastPrint = '';
  private lastSentAt = 0;
  private following: { stop(): void; done: Promise<void> } | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly opts: LiveFeedOptions) {}

  get size(): number {
    return this.clients.size;
  }

  /** Takes the request over: the response stays open until the client leaves or close(). */
  attach(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    if (this.closed || this.clients.size >= (this.opts.maxClients ?? 64)) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' });
      res.end(`${JSON.stringify({ error: this.closed ? 'the arbiter is stopping' : `the live feed has ${this.clients.size} clients already; try again later` })}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.socket?.setNoDelay(true);
    // The client reconnects by itself after 2 s when the connection breaks.
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    const leave = (): void => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.idle();
    };
    res.on('close', leave);
    res.on('error', leave);
    const doc = this.opts.source.status();
    this.send(res, sseMessage('status', doc));
    if (this.clients.size === 1) this.wake(doc);
  }

  /** Every client's response ended; nothing runs after. */
  close(): void {
    this.closed = true;
    for (const res of [...this.clients]) res.end();
    this.clients.clear();
    this.idle();
  }

  private send(res: ServerResponse, text: string): void {
    if (res.writableLength > MAX_BACKLOG) {
      this.opts.log.warn({ backlog: res.writableLength }, 'live feed client not reading: dropped');
      res.destroy();
      this.clients.delete(res);
      return;
    }
    res.write(text);
  }

  private broadcast(text: string): void {
    for (const res of [...this.clients]) this.send(res, text);
  }

  private wake(first: unknown): void {
    this.lastPrint = statusFingerprint(first);
    this.lastSentAt = Date.now();
    this.timer = setInterval(() => this.check(), this.opts.checkEveryMs ?? 500);
    this.follow();
  }

  private idle(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.following?.stop();
    this.following = null;
  }

  private check(): void {
    let doc: unknown;
    try {
      doc = this.opts.source.status();
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, 'live feed: status not built');
      return;
    }
    const print = statusFingerprint(doc);
    const now = Date.now();
    if (print === this.lastPrint && now - this.lastSentAt < (this.opts.refreshEveryMs ?? 5000)) return;
    this.lastPrint = print;
    this.lastSentAt = now;
    this.broadcast(sseMessage('status', doc));
  }

  private follow(): void {
    if (this.closed || this.clients.size === 0 || this.following) return;
    let f: { stop(): void; done: Promise<void> };
    try {
      f = this.opts.source.follow((entry) => this.broadcast(sseMessage('timeline', entry)));
    } catch (e) {
      this.followFailed(e);
      return;
    }
    this.following = f;
    f.done.then(
      () => {
        // Ended without stop(): followed again, as after a failure.
        if (this.following !== f) return;
        this.following = null;
        this.followFailed(new Error('the tail ended'));
      },
      (e: unknown) => {
        if (this.following !== f) return;
        this.following = null;
        this.followFailed(e);
      },
    );
  }

  private followFailed(e: unknown): void {
    const error = `the event log cannot be followed: ${(e as Error).message ?? String(e)}`;
    this.opts.log.warn({ err: error }, 'live feed: tail failed; retrying');
    this.broadcast(sseMessage('problem', { error }));
    if (this.clients.size > 0 && !this.closed) this.retry = setTimeout(() => ((this.retry = null), this.follow()), this.opts.retryMs ?? 5000);
  }
}
