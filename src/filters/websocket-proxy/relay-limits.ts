import type { FrameLimits } from "../../websocket/frame-policy.js";
import { RateGate, type RateGateLimits } from "../../websocket/rate-gate.js";
import type { PeerLimits } from "./limits-spec.js";

/** The rate and frame limits of a filter, as the relay takes them (RelayOptions' clientRate... backendFrameLimits). */
export interface RelayLimits {
  clientRate?: RateGate;
  backendRate?: RateGate;
  clientFrameLimits?: FrameLimits;
  backendFrameLimits?: FrameLimits;
}

/** The fields of a WebSocketProxy spec that limit what each peer sends. */
export interface LimitFields {
  clientMaxMsgRate: number;
  clientMaxByteRate: number;
  serverMaxMsgRate: number;
  serverMaxByteRate: number;
  rateLimitAction: RateGateLimits["action"];
  clientLimits?: PeerLimits | undefined;
  serverLimits?: PeerLimits | undefined;
}

/** One direction's gate limits: `messageRate` if given, else the legacy `*MaxMsgRate` (one second's worth at once). */
function gateLimits(
  maxMsgRate: number,
  maxByteRate: number,
  action: RateGateLimits["action"],
  limits: PeerLimits | undefined,
): RateGateLimits {
  const bucket = limits?.messageRate;
  return bucket !== undefined
    ? { messageRate: bucket.rate, messageBurst: bucket.burst, maxByteRate, action }
    : { messageRate: maxMsgRate, messageBurst: Math.max(1, Math.ceil(maxMsgRate)), maxByteRate, action };
}

function frameLimits(limits: PeerLimits | undefined): FrameLimits | undefined {
  if (limits === undefined) return undefined;
  return {
    maxFrameSize: limits.maxFrameSize,
    maxFragmentsPerMessage: limits.maxFragmentsPerMessage,
    controlFrameRate: limits.controlFrameRate?.rate ?? 0,
    controlFrameBurst: limits.controlFrameRate?.burst ?? 0,
    allowText: limits.allowText,
    allowBinary: limits.allowBinary,
  };
}

/** Frame limits of a spec, made once per filter (plain data the relays share). */
export function filterFrameLimits(spec: LimitFields): Pick<RelayLimits, "clientFrameLimits" | "backendFrameLimits"> {
  const client = frameLimits(spec.clientLimits);
  const backend = frameLimits(spec.serverLimits);
  return {
    ...(client !== undefined ? { clientFrameLimits: client } : {}),
    ...(backend !== undefined ? { backendFrameLimits: backend } : {}),
  };
}

/** Per-session rate gates, where a rate is set: each session has its own buckets. */
export function sessionRateGates(spec: LimitFields): Pick<RelayLimits, "clientRate" | "backendRate"> {
  const action = spec.rateLimitAction;
  const client = gateLimits(spec.clientMaxMsgRate, spec.clientMaxByteRate, action, spec.clientLimits);
  const backend = gateLimits(spec.serverMaxMsgRate, spec.serverMaxByteRate, action, spec.serverLimits);
  return {
    ...(RateGate.wanted(client) ? { clientRate: new RateGate(client) } : {}),
    ...(RateGate.wanted(backend) ? { backendRate: new RateGate(backend) } : {}),
  };
}
