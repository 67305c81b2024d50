/**
 * The worker side of ThreadedEventPublisher (publisher-thread.ts): opens an
 * EventPublisher with the setup it was given and feeds it what the agent's
 * thread posts. Its garbage, JSON and NATS work stay on this thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../common/src/log.js';
import { natsConnector } from './connect.js';
import { EventPublisher } from './publisher.js';
import { REPORT_MS, type FromWorker, type PublisherThreadSetup, type ToWorker, type WorkerReport } from './publisher-thread.js';

const port = parentPort;
if (port === null) throw new Error('publisher-worker.js runs as a worker thread of ThreadedEventPublisher');
const setup = workerData as PublisherThreadSetup;
const log = createLogger({ name: setup.logName, level: setup.logLevel }).child(setup.logBindings ?? {});

function report(p: EventPublisher): WorkerReport {
  return { stats: p.stats(), backlog: p.backlog(), nextSeq: p.nextSeq };
}
const send = (m: FromWorker) => port.postMessage(m);

let publisher: EventPublisher;
try {
  publisher = await EventPublisher.open({
    cluster: setup.cluster,
    node: setup.node,
    stateDir: setup.stateDir,
    connect: natsConnector(setup.nats),
    log,
    ...(setup.provision !== undefined ? { provision: setup.provision } : {}),
    ...(setup.maxInFlight !== undefined ? { maxInFlight: setup.maxInFlight } : {}),
    ...(setup.memoryWindow !== undefined ? { memoryWindow: setup.memoryWindow } : {}),
  });
} catch (err) {
  const e = err as { code?: string; message?: string };
  send({ t: 'openFailed', code: typeof e.code === 'string' && e.code.startsWith('KQ_ERR_') ? e.code : 'KQ_ERR_JOURNAL_IO', message: String(e.message ?? err) });
  log.flush();
  process.exit(1);
}

send({ t: 'ready', bootId: publisher.bootId, recovery: publisher.recovery, ...report(publisher) });
const reporter = setInterval(() => send({ t: 'report', ...report(publisher) }), REPORT_MS);
let refused = 0;

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'events':
      for (const item of m.items) {
        try {
          publisher.publish(item.type, item.data as never, { ...(item.instance !== undefined ? { instance: item.instance } : {}), ...(item.at ? { at: item.at } : {}) });
        } catch (err) {
          // A refused event is a bug of ours; it must not stop the agent. Logged, not thrown across.
          if (++refused <= 100 || refused % 1000 === 0) log.error({ err, type: item.type, refused }, 'event not recorded');
        }
      }
      break;
    case 'flush':
      void publisher.flush(m.timeoutMs).then((flushed) => send({ t: 'done', id: m.id, flushed, ...report(publisher) }));
      break;
    case 'stop':
      clearInterval(reporter);
      void publisher.stop(m.timeoutMs).then(({ flushed }) => {
        send({ t: 'done', id: m.id, flushed, ...report(publisher) });
        log.flush();
      });
      break;
  }
});
