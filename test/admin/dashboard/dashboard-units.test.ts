// Unit: the dashboard's counters read out of the metrics text, their rates, and the ring of config changes fed by
// the log lines the reloader already writes.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { pino } from "pino";
import { ConfigChangeRing, recordConfigChanges } from "../../../src/admin/dashboard/config-changes.js";
import { metricRates, metricTotals } from "../../../src/admin/dashboard/metric-totals.js";

const EXPOSITION = `# HELP wsgate_websocket_messages_total x
# TYPE wsgate_websocket_messages_total counter
wsgate_websocket_messages_total{server="edge",route="/ws",backend="127.0.0.1:1",direction="client_to_backend"} 10
wsgate_websocket_messages_total{server="edge",route="/ws",backend="127.0.0.1:2",direction="client_to_backend"} 5
wsgate_websocket_messages_total{server="edge",route="/ws",backend="127.0.0.1:1",direction="backend_to_client"} 7
wsgate_websocket_bytes_total{server="edge",route="/a \\"b\\"",backend="x",direction="client_to_backend"} 100
wsgate_websocket_bytes_total{server="edge",route="/ws",backend="x",direction="backend_to_client"} 50
wsgate_websocket_handshakes_total{server="edge",route="/ws",result="accepted",status="101"} 4
wsgate_websocket_handshakes_total{server="edge",route="/ws",result="rejected",status="429"} 2
wsgate_websocket_handshakes_total{server="edge",route="/ws",result="failed",status="502"} 1
wsgate_websocket_closes_total{server="edge",side="client",code="1000"} 3
wsgate_websocket_closes_total{server="edge",side="gateway",code="1000"} 1
wsgate_http_requests_total{server="edge",route="/",method="GET",status="200"} 99
wsgate_websocket_handshake_refusals_total{server="edge",route="*/ws",reason="route_busy"} 2
wsgate_websocket_handshake_refusals_total{server="edge",route="*/chat",reason="route_busy"} 1
wsgate_websocket_handshake_refusals_total{server="edge",route="*/ws",reason="dial_timeout"} 1
`;

describe("dashboard metric totals", () => {
  it("sums the WebSocket counters by direction, result, code, refused status and refusal reason", () => {
    const totals = metricTotals(EXPOSITION);
    assert.deepEqual(totals, {
      messagesIn: 15,
      messagesOut: 7,
      bytesIn: 100,
      bytesOut: 50,
      handshakes: { accepted: 4, rejected: 2, failed: 1 },
      closes: { "1000": 4 },
      refusals: { "429": 2, "502": 1 },
      refusalReasons: { route_busy: 3, dial_timeout: 1 },
    });
  });

  it("turns two totals into per-second rates; a counter that went down counts from zero", () => {
    const before = metricTotals(EXPOSITION);
    const now = { ...before, messagesIn: 35, messagesOut: 3, closes: { "1000": 8, "4000": 2 } };
    const rates = metricRates(now, before, 2);
    assert.equal(rates.messagesIn, 10);
    assert.equal(rates.messagesOut, 1.5);
    assert.equal(rates.bytesIn, 0);
    assert.deepEqual(rates.closes, { "1000": 2, "4000": 1 });
    assert.deepEqual(rates.handshakes, {});
    const later = { ...before, refusalReasons: { route_busy: 7, dial_timeout: 1, no_upstream: 4 } };
    assert.deepEqual(metricRates(later, before, 2).refusalReasons, { route_busy: 2, no_upstream: 2 });
  });
});

describe("config change ring", () => {
  it("keeps config_applied and config_rejected lines a logger writes, with their errors, and only the last ones", () => {
    const ring = new ConfigChangeRing(2);
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    const log = recordConfigChanges(pino({ level: "info" }, sink), ring);
    log.info({ event: "config_applied", trigger: "SIGHUP", started: ["a"] }, "config applied");
    log.info({ event: "listening" }, "listening");
    // A child of the recording logger records too: the reloader and the control log through children.
    log
      .child({ component: "reload" })
      .error(
        { event: "config_rejected", trigger: "watch", errors: ["gateway.yaml:3 edge.port: expected a number"] },
        "config rejected",
      );
    log.error({ event: "config_apply_failed", error: "port 80 in use" }, "config could not be applied");
    const changes = ring.list();
    assert.equal(changes.length, 2);
    assert.deepEqual(
      changes.map(({ outcome, trigger, errors }) => ({ outcome, trigger, errors })),
      [
        { outcome: "rejected", trigger: "watch", errors: ["gateway.yaml:3 edge.port: expected a number"] },
        { outcome: "rejected", trigger: undefined, errors: ["port 80 in use"] },
      ],
    );
  });
});
