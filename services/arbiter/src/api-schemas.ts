/**
 * The HTTP API's input schemas (zod), shared by the router (http-api.ts, the
 * dashboard's routes), the OpenAPI document (openapi.ts) and the tests, and
 * the one way a refusal names what is wrong: "<field>: <zod message>".
 */
import { z } from 'zod';

export const nodeToken = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "-" and "_", 1 to 64 characters');

export const failoverBodySchema = z.strictObject({ instance: nodeToken, to: nodeToken.optional() });
export const fenceBodySchema = z.strictObject({ node: nodeToken });

/** GET /v1/timeline's query string. */
export const timelineQuerySchema = z.strictObject({
  instance: nodeToken,
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

/** The first problem of a refused input, naming the field. */
export function zodProblem(e: z.ZodError, whole = '(body)'): string {
  const first = e.issues[0]!;
  if (first.code === 'unrecognized_keys') return `${first.keys.join(', ')}: unknown field`;
  return `${first.path.length > 0 ? first.path.join('.') : whole}: ${first.message}`;
}
