/**
 * One readable line per event, for people: when, where, what and why. Pure,
 * so the format is tested without a NATS server.
 *
 *   2026-11-25 09:12:03.123  dc1/b1  VI_1  BACKUP -> MASTER  no advertisement from master 198.18.1.1 ...
 */
import type { AnyEnvelope } from '../../../libs/events/src/mod.js';

type Data = Record<string, unknown>;

function when(at: string): string {
  return at.replace('T', ' ').replace('Z', '');
}

function describe(type: string, d: Data): string {
  switch (type) {
    case 'vrrp.transition':
      return `${String(d['from'])} -> ${String(d['to'])}  ${String(d['reason'] ?? '')}`;
    case 'check.result':
      return `check ${String(d['check'])} ${d['ok'] ? 'ok' : 'FAILED'} (${String(d['status'] ?? '')}, ${Number(d['latencyMs'] ?? 0).toFixed(1)} ms)${d['changed'] ? `  ${String(d['reason'] ?? '')}` : ''}${d['ok'] ? '' : `: ${String(d['output'] ?? '')}`}`;
    case 'vip.added':
    case 'vip.removed':
      return `${type === 'vip.added' ? 'VIP added' : 'VIP removed'} ${String(d['address'])}/${String(d['prefix'])} on ${String(d['interface'])}${d['changed'] ? '' : ' (no change)'}`;
    case 'garp.sent':
      return `${d['family'] === 'ipv6' ? 'unsolicited NA' : 'gratuitous ARP'} x${String(d['count'])} for ${(d['addresses'] as string[] | undefined)?.join(', ') ?? ''} on ${String(d['interface'])}`;
    case 'packet.rejected':
      return `${String(d['total'])} packets refused on ${String(d['interface'] ?? '?')} in ${Math.round(Number(d['periodMs'] ?? 0) / 1000)} s: ${Object.entries((d['counts'] as Record<string, number>) ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`;
    case 'agent.started':
      return `agent started (version ${String(d['version'])}, pid ${String(d['pid'])}, instances ${(d['instances'] as string[] | undefined)?.join(', ') ?? ''})${d['replaying'] ? `, replaying ${String(d['replaying'])} events` : ''}`;
    case 'agent.stopped':
      return `agent stopped: ${String(d['reason'])}${(d['released'] as string[] | undefined)?.length ? `; released ${(d['released'] as string[]).join(', ')}` : ''}`;
    case 'config.loaded':
      return `configuration loaded from ${String(d['source'])} (${String(d['format'])}, sha256 ${String(d['hash']).slice(0, 12)}…)`;
    default:
      return JSON.stringify(d);
  }
}

export function timelineLine(e: AnyEnvelope): string {
  const where = `${e.cluster}/${e.node}`;
  return `${when(e.at)}  ${where.padEnd(12)}  ${(e.instance ?? '-').padEnd(8)}  ${describe(e.type, e.data as Data)}`;
}
