/**
 * What can be checked on this host before the agent starts: interfaces exist,
 * scripts are found, executable and (under enable_script_security) safe. Used
 * by `--check`, so a migration from keepalived finds its problems before the
 * switch-over, not during it.
 */
import { isKqError } from '../../../libs/common/src/errors.js';
import { prepareNotify, trackScriptCheck, type ScriptGlobals } from '../../../libs/checks/src/mod.js';
import { getInterface } from '../../../libs/net/src/mod.js';
import type { AgentConfig } from '../../../libs/config/src/mod.js';

export interface PreflightReport {
  errors: string[];
  warnings: string[];
}

export async function preflight(config: AgentConfig, file: string): Promise<PreflightReport> {
  const report: PreflightReport = { errors: [], warnings: [] };
  const globals: ScriptGlobals = { scriptUser: config.global.scriptUser, enableScriptSecurity: config.global.enableScriptSecurity };
  const record = (err: unknown) => {
    if (isKqError(err)) report.errors.push(`${err.message} [${err.code}]`);
    else throw err;
  };

  const names = new Set<string>();
  for (const i of config.instances) {
    names.add(i.interface);
    for (const v of [...i.virtualAddresses, ...i.virtualAddressesExcluded]) if (v.device) names.add(v.device);
    for (const t of i.trackInterfaces) names.add(t.name);
  }
  for (const n of names) {
    try {
      await getInterface(n);
    } catch {
      report.warnings.push(`${file}: warning: interface ${n} does not exist here; its instances will be in FAULT until it appears`);
    }
  }

  const used = new Set(config.instances.flatMap((i) => i.trackScripts.map((t) => t.name)));
  for (const name of used) {
    const script = config.scripts[name];
    if (!script) continue;
    try {
      const { script: prepared } = await trackScriptCheck(name, script, globals);
      report.warnings.push(...(prepared?.warnings ?? []));
    } catch (err) {
      record(err);
    }
  }
  for (const i of config.instances) {
    try {
      report.warnings.push(...(await prepareNotify(i.notify, globals, { owner: `vrrp_instance ${i.name}`, source: i.source })).warnings);
    } catch (err) {
      record(err);
    }
  }
  for (const g of config.syncGroups) {
    try {
      report.warnings.push(...(await prepareNotify(g.notify, globals, { owner: `vrrp_sync_group ${g.name}`, source: g.source })).warnings);
    } catch (err) {
      record(err);
    }
  }
  return report;
}
