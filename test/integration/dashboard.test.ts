/**
 * The arbiter's dashboard end to end, in headless Chromium (Debian's
 * /usr/bin/chromium driven by playwright-core) run in the lab client's
 * namespace: a 3-server NATS cluster, one ha-arbiter replica serving the page,
 * a keepquorum pair (a1 priority 100, b1 priority 90) in strict mode.
 *
 * 1. Read-only without a token; with one, the forced failover button asks for
 *    confirmation (cancel sends nothing), then moves the lease to b1: the page
 *    shows b1 holding and the failover.started entry with its reason.
 * 2. The pair is broken: b1's host powered off. The page shows a1 holding
 *    again and the timeline entry of that grant with the reason the event log
 *    holds for it. A screenshot is written to test-output/ (path printed).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Lab, labUnavailableReason } from '../lab/lab.js';
import { NATS_SERVER } from '../lab/nats.js';
import { API_TOKEN, eventHistory, INSTANCE, settleWithA1, startArbiterPair, type ArbiterPair } from '../lab/arbiter-pair.js';
import { waitUntil } from '../lab/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = fileURLToPath(new URL('../../../test-output/', import.meta.url));
const skip = labUnavailableReason() ?? (existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is not installed`) ?? (existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium)`);

describe('dashboard in headless Chromium: live holder, timeline with reasons, forced failover behind a confirmation', { skip }, () => {
  let lab: Lab;
  let p: ArbiterPair;
  let browser: Browser;
  let page: Page;
  let url: string;
  const requests: { method: string; url: string; authorization?: string }[] = [];

  const card = () => page.locator(`article[data-instance="${INSTANCE}"]`);
  const holderShown = (node: string) => card().locator('[data-role=holder]', { hasText: new RegExp(`^${node}$`) });

  before(async () => {
    lab = await Lab.create();
    p = await startArbiterPair(lab, { mode: 'strict', fencing: 'off', arbiters: 1 });
    await p.startAgent('a1');
    await p.agents.a1.waitForState(INSTANCE, 'MASTER', 15_000);
    await p.startAgent('b1');
    await settleWithA1(p);
    url = p.arbiters[0]!.apiUrl!;
    // The arbiter listens on the lab's address: Chromium runs in the client's namespace
    // (playwright talks to it over pipes, which `ip netns exec` passes on).
    const wrapper = join(lab.dir, 'chromium-in-client-ns');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${p.cl.ns} ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (r) => {
      const authorization = r.headers()['authorization'];
      requests.push({ method: r.method(), url: r.url(), ...(authorization ? { authorization } : {}) });
    });
    page.on('pageerror', (e) => process.stderr.write(`dashboard page error: ${e.message}\n`));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await lab?.destroy();
  });

  test('without a token the page is read-only; with one, the failover asks first (cancel sends nothing), then moves the lease to b1 and the timeline says why', async () => {
    await page.goto(`${url}/dashboard/`);
    await holderShown('a1').waitFor({ timeout: 15_000 });
    await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 10_000 });
    await card().locator('tr[data-node="a1"] td.MASTER').waitFor({ timeout: 10_000 });
    await card().locator('tr[data-node="b1"] td.BACKUP').waitFor({ timeout: 10_000 });
    assert.equal(await card().locator('[data-role=failover]').isDisabled(), true, 'no token: no failover');
    // The history of the instance is on the page: a1's grant, with its reason.
    await page.locator('#timeline li[data-type="lease.granted"]', { hasText: 'lease granted to a1' }).first().waitFor({ timeout: 15_000 });

    await page.fill('#token', API_TOKEN);
    await card().locator('[data-role=failover]:not([disabled])').waitFor({ timeout: 5000 });
    await card().locator('[data-role=failover]').click();
    await page.locator('#confirm[open]').waitFor({ timeout: 5000 });
    assert.match((await page.locator('#confirm-text').textContent()) ?? '', new RegExp(`Take ${INSTANCE} away from a1\\?`));
    await page.click('#confirm-cancel');
    await page.locator('#confirm').waitFor({ state: 'hidden', timeout: 5000 });
    assert.equal(requests.filter((r) => r.method === 'POST').length, 0, 'cancel sends nothing');

    await card().locator('[data-role=failover]').click();
    await page.locator('#confirm[open]').waitFor({ timeout: 5000 });
    await page.selectOption('#confirm-to', 'b1');
    await page.click('#confirm-ok');
    await page.locator('#result.ok', { hasText: `${INSTANCE}: failover: forced failover by operator` }).waitFor({ timeout: 15_000 });
    const posts = requests.filter((r) => r.method === 'POST');
    assert.equal(posts.length, 1);
    assert.equal(new URL(posts[0]!.url).pathname, '/v1/failover');
    assert.equal(posts[0]!.authorization, `Bearer ${API_TOKEN}`);
    assert.ok(requests.every((r) => !r.url.includes(API_TOKEN)), 'the token is never in a URL');

    await p.agents.b1.waitForState(INSTANCE, 'MASTER', 15_000);
    await holderShown('b1').waitFor({ timeout: 15_000 });
    const started = page.locator('#timeline li[data-type="failover.started"]', { hasText: 'forced failover from a1 to b1' }).first();
    await started.waitFor({ timeout: 15_000 });
    assert.match((await started.locator('.why').textContent()) ?? '', /^forced failover by operator: epoch \d+ of a1 revoked/);
  });

  test('the pair broken (the holder b1 powered off): the page shows a1 holding and the grant in the timeline with the reason the event log holds', async (t) => {
    await waitUntil('b1 alone holding the VIP', async () => (await p.holders()).join() === 'b1', 15_000, 50);
    await p.b.powerOff();
    await p.agents.a1.waitForState(INSTANCE, 'MASTER', 20_000);
    await holderShown('a1').waitFor({ timeout: 20_000 });

    // The grant to a1 after b1 went silent, as the event log has it (read with hactl in the client's namespace).
    let granted: { id: string; data: Record<string, unknown> } | undefined;
    await waitUntil(
      'the grant to a1 after the power-off in the event log',
      async () => {
        const h = await eventHistory(p, ['--instance', INSTANCE, '--type', 'lease.granted']);
        granted = h.events.filter((e) => e.data['subject'] === 'a1').at(-1);
        return granted !== undefined && (await page.locator(`#timeline li[data-id="${granted.id}"]`).count()) > 0;
      },
      20_000,
      250,
    );
    const entry = page.locator(`#timeline li[data-id="${granted!.id}"]`);
    assert.equal(await entry.getAttribute('data-type'), 'lease.granted');
    assert.match((await entry.locator('.what').textContent()) ?? '', /^lease granted to a1 \(epoch \d+\)$/);
    const reason = String(granted!.data['reason']);
    assert.ok(reason.length > 0);
    assert.equal(await entry.locator('.why').textContent(), reason, 'the page shows the reason of the event log');
    // The failover before it is still there, older: the timeline is the instance's history, newest first.
    const ids = await page.locator('#timeline li').evaluateAll((lis) => lis.map((li) => li.getAttribute("data-type")));
    assert.ok(ids.indexOf('lease.granted') < ids.indexOf('failover.started'), `newest first: ${ids.join(', ')}`);

    mkdirSync(OUTPUT, { recursive: true });
    const shot = join(OUTPUT, `dashboard-${new Date().toISOString().replace(/[:.]/g, '-')}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(existsSync(shot));
    t.diagnostic(`screenshot: ${shot}`);
    t.diagnostic(`grant shown: ${reason}`);
  });
});
