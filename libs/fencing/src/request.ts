/** Checks a fence request before any backend acts on it. */
import { FENCE_ACTIONS, type FenceRequest } from './types.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Why a request cannot be acted on, or undefined when it can. */
export function requestProblem(request: FenceRequest): string | undefined {
  if (request === null || typeof request !== 'object') return 'the fence request is not an object';
  if (!FENCE_ACTIONS.includes(request.action)) return `action '${String(request.action)}' is not one of ${FENCE_ACTIONS.join(', ')}`;
  if (typeof request.node !== 'string' || request.node.length === 0) return 'the node to fence is empty';
  if (/[\r\n\0]/.test(request.node)) return 'the node name holds a line break or NUL';
  if (typeof request.cluster !== 'string' || request.cluster.length === 0) return 'the cluster is empty';
  if (request.instance !== undefined && (typeof request.instance !== 'string' || request.instance.length === 0)) return 'the instance is empty';
  if (request.epoch !== undefined && !(Number.isSafeInteger(request.epoch) && request.epoch >= 0)) return `epoch ${String(request.epoch)} is not a non-negative integer`;
  if (typeof request.reason !== 'string') return 'the reason is not a string';
  if (request.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(request.idempotencyKey)) {
    return 'the idempotency key must be 1 to 255 printable ASCII characters without spaces';
  }
  return undefined;
}
