import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { TempConfig, configOf, errorLines, loadErrors, yaml } from "./temp-config.js";

describe("cross-object checks", () => {
  let temp: TempConfig;
  before(async () => {
    temp = await TempConfig.create();
  });
  after(async () => temp.cleanup());

  it("a backend naming a missing pipeline, with a hint, the known pipelines, or the kind it really is", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "backends.yaml",
      yaml`
        kind: HTTPServer
        name: demo-server
        port: 8080
        rules:
        - paths:
          - path: /a
            backend: websocket-pipelin
          - path: /b
            backend: chat
          - path: /c
            backend: demo-server
        ---
        kind: Pipeline
        name: websocket-pipeline
        filters:
        - kind: WebSocketProxy
          name: wsproxy
          pools:
          - servers:
            - url: ws://127.0.0.1:9095
      `,
    );
    assert.deepEqual(errors, [
      `${file}:7 httpserver demo-server rules[0].paths[0].backend: pipeline 'websocket-pipelin' not found (did you mean 'websocket-pipeline'?)`,
      `${file}:9 httpserver demo-server rules[0].paths[1].backend: pipeline 'chat' not found (known pipelines: websocket-pipeline)`,
      `${file}:11 httpserver demo-server rules[0].paths[2].backend: 'demo-server' is not a Pipeline (it names an object of kind HTTPServer)`,
    ]);
  });

  it("backends are checked even when the server has other errors", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "backends-invalid-server.yaml",
      yaml`
        kind: HTTPServer
        name: demo-server
        port: -1
        rules:
        - paths:
          - path: /a
            backend: nowhere
      `,
    );
    assert.deepEqual(errors, [
      `${file}:3 httpserver demo-server port: must be at least 1, got -1`,
      `${file}:7 httpserver demo-server rules[0].paths[0].backend: pipeline 'nowhere' not found (no Pipeline is defined)`,
    ]);
  });

  it("duplicate object names across files, and servers sharing a port", async () => {
    const first = await temp.write(
      "dup/a.yaml",
      yaml`
        kind: HTTPServer
        name: edge
        port: 8080
      `,
    );
    const second = await temp.write(
      "dup/b.yaml",
      yaml`
        kind: HTTPServer
        name: edge
        port: 9090
        ---
        kind: HTTPServer
        name: internal
        address: 127.0.0.1
        port: 8080
        ---
        kind: HTTPServer
        name: other
        address: 127.0.0.2
        port: 9091
        ---
        kind: HTTPServer
        name: other-too
        address: 127.0.0.3
        port: 9091
      `,
    );
    assert.deepEqual(errorLines(await loadConfig([first, second])), [
      `${second}:2 httpserver edge name: duplicate name 'edge' (already used by httpserver edge at ${first}:2)`,
      `${second}:8 httpserver internal port: 127.0.0.1 port 8080 is already used by httpserver edge at ${first}:2`,
    ]);
  });

  it("flow: missing filters, jumps backwards, unknown results; filter names unique and END reserved", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "flow.yaml",
      yaml`
        kind: Pipeline
        name: ws-rr
        flow:
        - filter: first
        - filter: wsproxyy
        - filter: second
          jumpIf: { clientError: first, invalid: END }
        - filter: END
        filters:
        - kind: WebSocketProxy
          name: first
          pools:
          - servers:
            - url: ws://127.0.0.1:9095
        - kind: WebSocketProxy
          name: second
          pools:
          - servers:
            - url: ws://127.0.0.1:9096
        - kind: WebSocketProxy
          name: first
          pools:
          - servers:
            - url: ws://127.0.0.1:9097
        - kind: WebSocketProxy
          name: END
          pools:
          - servers:
            - url: ws://127.0.0.1:9098
      `,
    );
    assert.deepEqual(errors, [
      `${file}:5 pipeline ws-rr flow[1].filter: filter 'wsproxyy' not found (filters: first, second, END)`,
      `${file}:7 pipeline ws-rr flow[2].jumpIf.clientError: jumpIf target 'first' must be a filter later in the flow, or END`,
      `${file}:7 pipeline ws-rr flow[2].jumpIf.invalid: unknown result 'invalid' for filter second (expected one of clientError, serverError)`,
      `${file}:21 pipeline ws-rr filter first name: duplicate filter name 'first' (already used by filters[0])`,
      `${file}:26 pipeline ws-rr filter END name: filter name 'END' is reserved for ending the flow`,
    ]);
  });

  it("names are unique across kinds: a server and a pipeline may not share one", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "shared-name.yaml",
      yaml`
        kind: HTTPServer
        name: stream
        port: 8080
        rules:
        - paths:
          - backend: stream
        ---
        kind: Pipeline
        name: stream
        filters:
        - kind: WebSocketProxy
          name: wsproxy
          pools:
          - servers:
            - url: ws://127.0.0.1:9095
      `,
    );
    assert.deepEqual(errors, [
      `${file}:9 pipeline stream name: duplicate name 'stream' (already used by httpserver stream at ${file}:2)`,
    ]);
  });

  it("a flow may jump forward to a later filter or END", async () => {
    const file = await temp.write(
      "flow-ok.yaml",
      yaml`
        kind: Pipeline
        name: ws-rr
        flow:
        - filter: first
        - filter: second
        filters:
        - kind: WebSocketProxy
          name: first
          pools:
          - servers:
            - url: ws://127.0.0.1:9095
        - kind: WebSocketProxy
          name: second
          pools:
          - servers:
            - url: ws://127.0.0.1:9096
      `,
    );
    const config = configOf(await loadConfig([file]));
    assert.deepEqual(config.pipelines[0]?.flow, [
      { filter: "first", jumpIf: {} },
      { filter: "second", jumpIf: {} },
    ]);
  });
});
