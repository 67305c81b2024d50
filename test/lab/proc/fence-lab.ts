/**
 * The lab's fence agent: a Pacemaker-style `fence_*` program (no arguments,
 * `key=value` lines on stdin, exit 0 on success; for status 0 = on, 2 = off,
 * 1 = error), driving the lab's power switch (fence-receiver.ts, `/pdu/...`)
 * over HTTP as fence_apc or fence_ipmilan drive theirs. Debian's fence_dummy
 * only flips a status file, so it cannot power a namespace off; this can.
 *
 * Options read: action (off, on, reboot, status, monitor, metadata), plug
 * (or port), ip, ipport (default 9443), password (or passwd), nodename
 * (ignored). Run through the wrapper fence-target.ts writes (node + this file).
 */
import { request } from 'node:http';

function readStdin(): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    process.stdin.on('data', (d: Buffer) => (text += d.toString()));
    process.stdin.on('end', () => resolve(text));
  });
}

function post(ip: string, port: number, path: string, password: string): Promise<{ status: number; body: { status?: string } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port, path, method: 'POST', headers: { authorization: `Bearer ${password}` }, timeout: 20_000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let body: { status?: string } = {};
        try {
          body = JSON.parse(text) as { status?: string };
        } catch {
          // no JSON: status code only
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<number> {
  const opts: Record<string, string> = {};
  for (const line of (await readStdin()).split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) opts[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  const action = opts['action'] ?? opts['option'] ?? 'off';
  if (action === 'metadata') {
    process.stdout.write('<?xml version="1.0" ?>\n<resource-agent name="fence_lab" shortdesc="keepquorum lab power switch"><parameters/><actions><action name="off"/><action name="on"/><action name="status"/><action name="metadata"/></actions></resource-agent>\n');
    return 0;
  }
  const plug = opts['plug'] ?? opts['port'];
  const ip = opts['ip'];
  if (!plug || !ip) {
    process.stderr.write('fence_lab: plug and ip are required\n');
    return 1;
  }
  const port = Number(opts['ipport'] ?? 9443);
  const password = opts['password'] ?? opts['passwd'] ?? '';
  const act = action === 'monitor' ? 'status' : action === 'reboot' ? 'off' : action;
  try {
    const r = await post(ip, port, `/pdu/${plug}/${act}`, password);
    if (r.status === 401) {
      process.stderr.write('fence_lab: login denied\n');
      return 3;
    }
    if (r.status !== 200) {
      process.stderr.write(`fence_lab: the switch answered ${r.status}\n`);
      return 1;
    }
    if (act === 'status') {
      process.stdout.write(`Status: ${r.body.status === 'off' ? 'OFF' : 'ON'}\n`);
      return r.body.status === 'off' ? 2 : 0;
    }
    process.stdout.write(`Success: Powered ${act.toUpperCase()}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`fence_lab: ${(e as Error).message}\n`);
    return 4;
  }
}

main().then((code) => process.exit(code));
