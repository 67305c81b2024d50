/**
 * How long an event waits between publish() (its journal append) and its
 * JetStream ack, as a histogram with fixed bounds, the way Prometheus counts
 * it: the publisher reports it in its stats (across the worker thread too), the
 * metrics endpoints expose it as keepquorum_events_publish_latency_seconds.
 *
 * Seqs are allocated in order, so the publish times of this run are an array
 * indexed from the first seq still waiting; an ack pops the times up to its
 * seq. Events replayed from a previous run's journal have no time and are not
 * counted. At most MAX_WAITING times are kept (an outage with a long backlog
 * drops the oldest: their latency is then not counted, memory stays bounded).
 */

/** Upper bounds of the buckets, seconds (the last bucket, +Inf, is implicit). */
export const ACK_LATENCY_BOUNDS_S: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const MAX_WAITING = 65_536;

/** A histogram as plain data (it crosses a thread): `counts[i]` events took at most `bounds[i]` s and more than the bound before; the last count is above every bound. */
export interface LatencyHistogram {
  bounds: readonly number[];
  counts: number[];
  /** Seconds, all observations added. */
  sum: number;
  count: number;
}

export class AckLatency {
  private times: number[] = [];
  private head = 0;
  /** The seq of times[head]. */
  private firstSeq = 0;
  private readonly counts = new Array<number>(ACK_LATENCY_BOUNDS_S.length + 1).fill(0);
  private sum = 0;
  private count = 0;

  /** `seq` was just published at `nowMs` (monotonic): seqs come in order, one by one. */
  published(seq: number, nowMs: number): void {
    if (this.head === this.times.length) {
      this.times = [];
      this.head = 0;
      this.firstSeq = seq;
    } else if (this.times.length - this.head >= MAX_WAITING) {
      this.head++;
      this.firstSeq++;
    }
    this.times.push(nowMs);
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }

  /** `seq` was acknowledged at `nowMs`; acks come in seq order (the acknowledged prefix). */
  acknowledged(seq: number, nowMs: number): void {
    while (this.head < this.times.length && this.firstSeq < seq) {
      this.head++;
      this.firstSeq++;
    }
    if (this.head < this.times.length && this.firstSeq === seq) {
      this.observe((nowMs - this.times[this.head]!) / 1000);
      this.head++;
      this.firstSeq++;
    }
  }

  observe(seconds: number): void {
    const s = Math.max(0, seconds);
    let i = 0;
    while (i < ACK_LATENCY_BOUNDS_S.length && s > ACK_LATENCY_BOUNDS_S[i]!) i++;
    this.counts[i]!++;
    this.sum += s;
    this.count++;
  }

  snapshot(): LatencyHistogram {
    return { bounds: ACK_LATENCY_BOUNDS_S, counts: [...this.counts], sum: this.sum, count: this.count };
  }
}
