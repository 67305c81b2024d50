/**
 * What the configuration may say that this agent does not act on yet. The
 * parser accepts keepalived's whole vocabulary; the agent says plainly, once
 * per setting and with its place in the file, what it will not do, instead of
 * ignoring it.
 */
import type { AgentConfig, Diagnostic } from '../../../libs/config/src/mod.js';

export function notYetImplemented(config: AgentConfig, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const warn = (where: { file: string; line: number } | undefined, key: string, message: string): void => {
    out.push({ severity: 'warning', code: 'KQ_WARN_CONFIG_NOT_IMPLEMENTED', message, file: where?.file ?? file, line: where?.line, key });
  };
  for (const inst of config.instances) {
    const w = (key: string, message: string) => warn(inst.source, `vrrp_instance ${inst.name} > ${key}`, message);
    if (inst.authentication?.type === 'AH') w('authentication', 'auth_type AH is not supported; adverts are sent without authentication');
  }
  return out;
}
