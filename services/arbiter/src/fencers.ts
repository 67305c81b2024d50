/**
 * The fencing backends of the nodes, built once at start from the config
 * (libs/fencing createFencer reads the secret files and checks the agents),
 * each behind the gateway gate: a replica that cannot reach its gateway fences
 * nobody, whatever decide() said a moment earlier.
 */
import { createFencer, gatewayGate, type FenceGate, type Fencer, type FencerConfig } from '../../../libs/fencing/src/mod.js';
import type { ArbiterConfig, FencingBackendConfig } from './config.js';

export interface Fencers {
  /** The backend that fences `node`, or undefined when none is configured. */
  for(node: string): Fencer | undefined;
  /** Nodes with a backend of their own. */
  readonly nodes: readonly string[];
  readonly hasDefault: boolean;
}

function toFencerConfig(b: FencingBackendConfig): FencerConfig {
  if (b.type === 'webhook') {
    const { type: _t, ...rest } = b;
    return { type: 'webhook', ...rest };
  }
  const { type: _t, ...rest } = b;
  return { type: 'agent', ...rest };
}

/** Throws KqError (KQ_ERR_FENCE_CONFIG, KQ_ERR_FENCE_SECRET) naming the node whose backend cannot work. */
export async function buildFencers(config: ArbiterConfig, gatewayAnswers: (() => Promise<boolean>) | null): Promise<Fencers> {
  const gates: FenceGate[] = gatewayAnswers && config.gateway ? [gatewayGate(gatewayAnswers, { gateway: config.gateway.address, timeoutMs: config.gateway.timeoutMs * 2 })] : [];
  const byNode = new Map<string, Fencer>();
  for (const [node, n] of Object.entries(config.nodes)) {
    if (!n.fencing) continue;
    try {
      byNode.set(node, await createFencer(toFencerConfig(n.fencing), { gates }));
    } catch (e) {
      (e as Error).message = `nodes.${node}.fencing: ${(e as Error).message}`;
      throw e;
    }
  }
  let fallback: Fencer | undefined;
  if (config.defaultFencing) {
    try {
      fallback = await createFencer(toFencerConfig(config.defaultFencing), { gates });
    } catch (e) {
      (e as Error).message = `defaultFencing: ${(e as Error).message}`;
      throw e;
    }
  }
  return {
    for: (node) => byNode.get(node) ?? fallback,
    nodes: [...byNode.keys()],
    hasDefault: fallback !== undefined,
  };
}
