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
    if (inst.trackScripts.length > 0) w('track_script', 'tracked scripts are not run by this version of ha-agent; the priority stays as configured');
    if (inst.trackInterfaces.length > 0) w('track_interface', 'tracked interfaces other than the instance interface are not watched by this version of ha-agent');
    const notify = inst.notify;
    if (notify.master || notify.backup || notify.fault || notify.stop || notify.any) {
      w('notify', 'notify scripts are not run by this version of ha-agent; transitions are in the log');
    }
    if (inst.authentication?.type === 'AH') w('authentication', 'auth_type AH is not supported; adverts are sent without authentication');
  }
  for (const g of config.syncGroups) {
    warn(g.source, `vrrp_sync_group ${g.name}`, 'sync groups are not applied by this version of ha-agent; each instance runs on its own');
  }
  return out;
}
