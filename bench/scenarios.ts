/** The bench's scenarios: four measured loops and the idle connections. */
import type { LoadKind } from "./protocol.js";

export const SCENARIO_NAMES = ["echo-64", "echo-16k", "stream", "handshake", "handshake-cold", "idle"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** Scenarios of wsgate alone, outside the comparison table: run only when --scenarios names them. */
export const WSGATE_SCENARIO_NAMES = ["basic-auth-flood", "handover"] as const;
export type WsgateScenarioName = (typeof WSGATE_SCENARIO_NAMES)[number];

/** Storm, wss:// and HTTP/2 scenarios (storm.ts, tls-scenarios.ts, h2-scenarios.ts): each its own section; run by default. */
export const BURST_SCENARIO_NAMES = ["storm", "wss", "h2"] as const;
export type BurstScenarioName = (typeof BURST_SCENARIO_NAMES)[number];

export interface LoopScenario {
  name: Exclude<ScenarioName, "idle">;
  kind: LoadKind;
  connections: number;
  size: number;
  inFlight: number;
  unit: "msg/s" | "conn/s";
}

export const LOOP_SCENARIOS: Record<LoopScenario["name"], LoopScenario> = {
  "echo-64": { name: "echo-64", kind: "echo", connections: 50, size: 64, inFlight: 1, unit: "msg/s" },
  "echo-16k": { name: "echo-16k", kind: "echo", connections: 50, size: 16 * 1024, inFlight: 1, unit: "msg/s" },
  stream: { name: "stream", kind: "stream", connections: 4, size: 64, inFlight: 1000, unit: "msg/s" },
  handshake: { name: "handshake", kind: "handshake", connections: 50, size: 64, inFlight: 1, unit: "conn/s" },
  // The first cycles of a fresh proxy (warmup.ts).
  "handshake-cold": {
    name: "handshake-cold",
    kind: "handshake",
    connections: 50,
    size: 64,
    inFlight: 1,
    unit: "conn/s",
  },
};
