// `POST /apis/v2/servers/drain`: the operator takes one upstream server out (`wsgate drain`).
import { parseDuration } from "../schema/duration.js";
import { UpstreamServerNotFoundError } from "../control/errors.js";
import { readBody } from "./body.js";
import { InvalidDrainRequestError } from "./errors.js";
import type { AdminAnswer, AdminRequest } from "./response.js";

/** When a drain body gives no `over`. */
export const DEFAULT_DRAIN_OVER = "30s";
/** Longer windows are a typo; timers past ~24 days would fire at once. */
const MAX_DRAIN_OVER_MS = 24 * 3600 * 1000;
const DRAIN_BODY_BYTES = 4096;

interface DrainRequest {
  server: string;
  overMs: number;
  pool: string | undefined;
}

/**
 * Body `{"server": "127.0.0.1:9095", "over": "5m", "pool": "..."}`: no new connections to that server, and its live
 * sessions closed with 1001 (or the pool's `backendCloseCodes.drained`) spread over `over` (default 30s, `0` at
 * once): session i of n at about i/n of the window. 404 when no pool has the server.
 */
export async function drainServer({ control, request }: AdminRequest): Promise<AdminAnswer> {
  const { server, overMs, pool } = drainRequestOf(await readBody(request, DRAIN_BODY_BYTES));
  const drained = await control.drainServer(server, overMs, pool);
  if (drained.length === 0) throw new UpstreamServerNotFoundError(server, pool);
  const sessions = drained.reduce((sum, one) => sum + one.sessions, 0);
  return { status: 200, body: { server, overMs, sessions, servers: drained } };
}

function drainRequestOf(text: string): DrainRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new InvalidDrainRequestError('the body must be JSON: {"server": "HOST:PORT", "over": "30s", "pool": "..."}');
  }
  if (typeof body !== "object" || body === null) throw new InvalidDrainRequestError("the body must be a JSON object");
  const fields = body as Record<string, unknown>;
  const { server, over = DEFAULT_DRAIN_OVER, pool } = fields;
  if (typeof server !== "string" || server === "") {
    throw new InvalidDrainRequestError('"server" must name an upstream server: "HOST:PORT" or its URL');
  }
  if (pool !== undefined && typeof pool !== "string") throw new InvalidDrainRequestError('"pool" must be a string');
  return { server, overMs: overMsOf(over), pool };
}

function overMsOf(over: unknown): number {
  if (typeof over !== "string" && over !== 0) throw new InvalidDrainRequestError('"over" must be a duration: "30s"');
  let ms: number;
  try {
    ms = over === 0 ? 0 : parseDuration(over);
  } catch (error) {
    throw new InvalidDrainRequestError(`"over": ${(error as Error).message}`);
  }
  if (ms > MAX_DRAIN_OVER_MS) throw new InvalidDrainRequestError('"over" must be at most 24h');
  return ms;
}
