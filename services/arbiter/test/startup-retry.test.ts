import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KqError } from '../../../libs/common/src/errors.js';
import { createLogger } from '../../../libs/common/src/log.js';
import { isTransientNatsError, retryWhileTransient, startupRetryDelayMs } from '../src/startup-retry.js';

const log = createLogger({ name: 'test', level: 'silent' });

/** The shape nats.js gives its errors: a message and a string code. */
function natsError(message: string, code: string): Error {
  return Object.assign(new Error(message), { name: 'NatsError', code });
}

test('a JetStream timeout or no responders is transient; a bucket that differs or a config error is not', () => {
  assert.equal(isTransientNatsError(natsError('TIMEOUT', 'TIMEOUT')), true);
  assert.equal(isTransientNatsError(natsError('503', '503')), true);
  assert.equal(isTransientNatsError(new KqError('KQ_ERR_STREAM_CONFIG', 'lease bucket HA_LEASES: cannot read its stream KV_HA_LEASES: TIMEOUT', undefined, { cause: natsError('TIMEOUT', 'TIMEOUT') })), true);
  assert.equal(isTransientNatsError(new KqError('KQ_ERR_STREAM_CONFIG', 'lease bucket HA_LEASES does not exist and leases.create is false')), false);
  assert.equal(isTransientNatsError(new KqError('KQ_ERR_CONFIG_VALUE', 'leases.replicas: timeout is not a number')), false);
  assert.equal(isTransientNatsError(new Error('EACCES: permission denied')), false);
  assert.equal(isTransientNatsError(undefined), false);
});

test('the delay doubles from 250 ms and stops at 5 s', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 10].map(startupRetryDelayMs), [250, 500, 1000, 2000, 4000, 5000, 5000]);
});

test('a start step is tried again while JetStream does not answer, and fails at once on anything else', async () => {
  const waited: number[] = [];
  const sleep = async (ms: number) => {
    waited.push(ms);
  };
  let calls = 0;
  const value = await retryWhileTransient(
    'lease bucket',
    async () => {
      calls++;
      if (calls < 3) throw natsError('TIMEOUT', 'TIMEOUT');
      return 'bound';
    },
    log,
    sleep,
  );
  assert.equal(value, 'bound');
  assert.deepEqual(waited, [250, 500]);

  const fatal = new KqError('KQ_ERR_STREAM_CONFIG', 'lease bucket HA_LEASES does not exist and leases.create is false');
  let tries = 0;
  await assert.rejects(
    retryWhileTransient('lease bucket', async () => {
      tries++;
      throw fatal;
    }, log, sleep),
    fatal,
  );
  assert.equal(tries, 1);
});
