// Probes for Kubernetes and load balancers: /healthz says the process answers, /readyz that it can take traffic.
// Both answer without the token (a kubelet has none) but behind the listener's Host and Origin checks; their
// reasons name no object, address or error text, since anyone who reaches the admin port may read them.
import type { GatewayControl, StatusView } from "../control/control.js";
import type { AdminAnswer, AdminRequest } from "./response.js";

/** The paths that need no token; every other admin path does when one is configured. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz"]);

/** `GET /healthz`: 200 while the admin listener's process answers at all. */
export function healthz(): Promise<AdminAnswer> {
  return Promise.resolve({ status: 200, body: { status: "ok" } });
}

/** `GET /readyz`: 200 once the config is applied, every HTTPServer listens and every pool's first check round ended. */
export async function readyz({ control }: AdminRequest): Promise<AdminAnswer> {
  const reasons = await notReadyReasons(control);
  if (reasons.length === 0) return { status: 200, body: { status: "ready" } };
  return { status: 503, body: { status: "not ready", reasons } };
}

const PENDING = Symbol("pending");

/** Why the gateway cannot take traffic yet; empty when it can. In cluster mode `control` answers for the workers. */
export async function notReadyReasons(control: GatewayControl): Promise<string[]> {
  // A change still being applied is not waited for: a probe must answer at once.
  const settled = await Promise.race([control.settled(), new Promise<typeof PENDING>((r) => setImmediate(r, PENDING))]);
  if (settled === PENDING) return ["config change being applied"];
  if (settled !== undefined) return ["last config change failed"];
  const status = await control.status();
  return [...listenerReasons(control, status), ...healthReasons(status)];
}

function listenerReasons(control: GatewayControl, status: StatusView): string[] {
  const servers = control.store.list().filter((stored) => stored.object.kind === "HTTPServer");
  const closed = servers.filter(
    (stored) => !status.listeners.some((listener) => listener.server === stored.object.name),
  );
  return closed.length === 0 ? [] : [`${closed.length} of ${servers.length} HTTPServers not listening`];
}

function healthReasons(status: StatusView): string[] {
  const pending = status.pools.filter(
    (pool) => pool.healthCheck && pool.servers.some((server) => server.check?.lastAt === undefined),
  );
  return pending.length === 0 ? [] : [`${pending.length} pools before their first health check round`];
}
