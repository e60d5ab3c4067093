import type { IncomingMessage, ServerResponse } from "node:http";
import { stringify } from "yaml";
import type { ListenerAddress } from "../config/admin-targets.js";
import type { GatewayControl } from "../control/control.js";
import type { UpgradeOutcome } from "../control/upgrade-protocol.js";
import type { ClusterAccess } from "./cluster-access.js";
import type { PathParams } from "./router.js";

/** What a handler gets: the request, its path parameters and query, and the gateway it drives. */
export interface AdminRequest {
  request: IncomingMessage;
  params: PathParams;
  query: URLSearchParams;
  control: GatewayControl;
  /** The cluster this gateway is a member of (`--store etcd://...`), if any. */
  cluster?: ClusterAccess;
  /** This admin listener: whether a token guards it, and where it is (objects must not point there). */
  listener: AdminListenerView;
  /** Upgrades this process in place (`wsgate upgrade`), where it can be. */
  upgrade?: () => Promise<UpgradeOutcome>;
}

export interface AdminListenerView {
  tokenConfigured: boolean;
  /** As configured and as bound. */
  addresses: readonly ListenerAddress[];
}

/** A handler's answer: JSON unless `text` is given (or the client asked for YAML). */
export interface AdminAnswer {
  status: number;
  body?: unknown;
  text?: { contentType: string; body: string };
  headers?: Record<string, string>;
}

export type AdminHandler = (request: AdminRequest) => Promise<AdminAnswer>;

/** YAML when the client asks for it (`Accept: application/yaml` or `?format=yaml`), as egctl users expect. */
export function wantsYaml(request: IncomingMessage, query: URLSearchParams): boolean {
  const format = query.get("format");
  if (format !== null) return format === "yaml";
  return /\b(application|text)\/(x-)?yaml\b/.test(request.headers.accept ?? "");
}

export function send(response: ServerResponse, answer: AdminAnswer, yaml: boolean): void {
  for (const [name, value] of Object.entries(answer.headers ?? {})) response.setHeader(name, value);
  let contentType = "application/json";
  let body = "";
  if (answer.text !== undefined) {
    contentType = answer.text.contentType;
    body = answer.text.body;
  } else if (answer.body !== undefined) {
    if (yaml) {
      contentType = "application/yaml";
      body = stringify(answer.body);
    } else body = `${JSON.stringify(answer.body, null, 2)}\n`;
  }
  response.statusCode = answer.status;
  if (body !== "") response.setHeader("Content-Type", contentType);
  response.end(body);
}
