import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { filterFrameLimits, sessionRateGates } from "../../src/filters/websocket-proxy/relay-limits.js";
import { webSocketProxySchema } from "../../src/filters/websocket-proxy/spec.js";

const base = { kind: "WebSocketProxy", name: "proxy", pools: [{ servers: [{ url: "ws://127.0.0.1:1" }] }] };

describe("WebSocketProxy clientLimits / serverLimits", () => {
  it("unset: no rate gate and no frame limits (the relay checks nothing per frame)", () => {
    const spec = webSocketProxySchema.parse(base);
    assert.deepEqual(sessionRateGates(spec), {});
    assert.deepEqual(filterFrameLimits(spec), {});
  });

  it("messageRate { rate, burst }: burst defaults to one second's worth; the old field means rate = burst", () => {
    const spec = webSocketProxySchema.parse({
      ...base,
      clientLimits: { messageRate: { rate: 20, burst: 5 }, maxFrameSize: 100, allowBinary: false },
      serverLimits: { messageRate: { rate: 2.5 } },
    });
    const gates = sessionRateGates(spec);
    assert.deepEqual(gates.clientRate?.limits, { messageRate: 20, messageBurst: 5, maxByteRate: 0, action: "pause" });
    assert.deepEqual(gates.backendRate?.limits, { messageRate: 2.5, messageBurst: 3, maxByteRate: 0, action: "pause" });
    assert.equal(filterFrameLimits(spec).clientFrameLimits?.maxFrameSize, 100);
    assert.equal(filterFrameLimits(spec).clientFrameLimits?.allowBinary, false);
    const legacy = webSocketProxySchema.parse({ ...base, clientMaxMsgRate: 20, rateLimitAction: "close" });
    assert.deepEqual(sessionRateGates(legacy).clientRate?.limits, {
      messageRate: 20,
      messageBurst: 20,
      maxByteRate: 0,
      action: "close",
    });
  });

  it("refuses both forms at once, a zero rate, a zero burst", () => {
    const both = webSocketProxySchema.safeParse({
      ...base,
      clientMaxMsgRate: 5,
      clientLimits: { messageRate: { rate: 5 } },
    });
    assert.equal(both.success, false);
    assert.match(JSON.stringify(both.error?.issues), /set either clientMaxMsgRate or clientLimits.messageRate/);
    assert.equal(
      webSocketProxySchema.safeParse({ ...base, serverLimits: { messageRate: { rate: 0 } } }).success,
      false,
    );
    assert.equal(
      webSocketProxySchema.safeParse({ ...base, serverLimits: { controlFrameRate: { rate: 1, burst: 0 } } }).success,
      false,
    );
  });
});
