import assert from "node:assert/strict";
import { symlink } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { formatConfigWarning, loadConfig, loadConfigText, validateObjects } from "../../src/config/load.js";
import { TempConfig, configOf, errorLines, yaml } from "./temp-config.js";

const SERVER = (name: string, port: number, backend = "ws-rr") => yaml`
  kind: HTTPServer
  name: ${name}
  port: ${port}
  rules:
  - paths:
    - path: /ws
      backend: ${backend}
`;

const PIPELINE = (name: string) => yaml`
  kind: Pipeline
  name: ${name}
  filters:
  - kind: WebSocketProxy
    name: wsproxy
    pools:
    - servers:
      - url: ws://127.0.0.1:9095
`;

describe("configuration files", () => {
  let temp: TempConfig;
  before(async () => {
    temp = await TempConfig.create();
  });
  after(async () => temp.cleanup());

  it("reads several objects from one file, skipping empty documents", async () => {
    const file = await temp.write(
      "multi.yaml",
      `---\n${SERVER("edge", 8080)}---\n# only a comment\n---\n${PIPELINE("ws-rr")}---\n`,
    );
    const config = configOf(await loadConfig([file]));
    assert.deepEqual(
      config.httpServers.map((server) => server.name),
      ["edge"],
    );
    assert.deepEqual(
      config.pipelines.map((pipeline) => pipeline.name),
      ["ws-rr"],
    );
  });

  it("reads every .yaml and .yml file of a directory, sorted, not recursing and ignoring other files", async () => {
    await temp.write("dir/c.yaml", SERVER("admin", 8081));
    await temp.write("dir/b.yml", PIPELINE("ws-rr"));
    await temp.write("dir/a.yaml", SERVER("edge", 8080));
    await temp.write("dir/notes.txt", "not: [yaml");
    await temp.write("dir/nested/d.yaml", SERVER("ignored", 8082));
    const config = configOf(await loadConfig([temp.path("dir")]));
    assert.deepEqual(
      config.httpServers.map((server) => server.name),
      ["edge", "admin"],
    );
    assert.deepEqual(
      config.pipelines.map((pipeline) => pipeline.name),
      ["ws-rr"],
    );
  });

  it("reads symbolic links in a directory, as mounted config maps are made of them", async () => {
    const target = await temp.write("real/server.yaml", SERVER("edge", 8080, "missing"));
    await temp.write("mounted/pipeline.yaml", PIPELINE("ws-rr"));
    const link = temp.path("mounted/server.yaml");
    await symlink(target, link);
    assert.deepEqual(errorLines(await loadConfig([temp.path("mounted")])), [
      `${link}:7 httpserver edge rules[0].paths[0].backend: pipeline 'missing' not found (known pipelines: ws-rr)`,
    ]);
  });

  it("a missing file or an empty directory is named in the error", async () => {
    const missing = join(temp.dir, "missing.yaml");
    const empty = temp.path("empty");
    await temp.write("empty/readme.txt", "nothing here");
    assert.deepEqual(errorLines(await loadConfig([missing, empty])), [
      `${empty}: directory has no .yaml or .yml files`,
      `${missing}: file not found`,
    ]);
  });

  it("YAML syntax errors name file:line, and other documents are still checked", async () => {
    const file = await temp.write(
      "syntax.yaml",
      yaml`
        kind: HTTPServer
        name: edge
        port: 8080
        rules: [
        ---
        kind: HTTPServer
        name: admin
        port: 8080
        port: 8081
        ---
        kind: HTTPServer
        name: other
        port: nope
      `,
    );
    assert.deepEqual(errorLines(await loadConfig([file])), [
      `${file}:5: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      `${file}:9: invalid YAML: Map keys must be unique`,
      `${file}:13 httpserver other port: expected a number, got 'nope'`,
    ]);
  });

  it("a document that is not a map is an error", () => {
    assert.deepEqual(errorLines(loadConfigText("- kind: HTTPServer\n", "list.yaml")), [
      "list.yaml:1: expected a map with 'kind' and 'name', got a list",
    ]);
  });

  it("warnings come with a config that loads, from files, texts and the admin API's objects alike", async () => {
    const text = `${SERVER("edge", 8080)}---\n${PIPELINE("ws-rr").replace("9095", "9095/ws")}`;
    const expected = [
      "warn.yaml:16 pipeline ws-rr filter wsproxy pools[0].servers[0].url: warning: the path '/ws' of this URL is " +
        "not used: the backend gets the client's request path. To send '/ws' to the backend, set rewriteTarget: /ws " +
        "on the HTTPServer path rule and drop it here; otherwise just drop it (health checks without a uri use it)",
    ];
    const fromText = loadConfigText(text, "warn.yaml");
    assert.ok(fromText.ok);
    assert.deepEqual(fromText.warnings.map(formatConfigWarning), expected);
    const file = await temp.write("warn.yaml", text);
    const fromFile = await loadConfig([file]);
    assert.ok(fromFile.ok);
    assert.deepEqual(
      fromFile.warnings.map(formatConfigWarning),
      expected.map((line) => line.replace("warn.yaml", file)),
    );
    const fromObjects = validateObjects(fromText.config.objects, "objects");
    assert.ok(fromObjects.ok);
    assert.equal(fromObjects.warnings.length, 1);
  });

  it("loading files with no object at all is an error; a text or the admin API's empty store is not", async () => {
    const file = await temp.write("nothing.yaml", "# nothing yet\n");
    assert.deepEqual(errorLines(await loadConfig([file])), [
      `${file}: no objects: the file is empty or holds only comments (expected an HTTPServer and a Pipeline)`,
    ]);
    assert.ok(validateObjects([], "objects").ok);
  });

  it("an empty file is an empty configuration", () => {
    assert.deepEqual(configOf(loadConfigText("# nothing yet\n", "empty.yaml")), {
      httpServers: [],
      pipelines: [],
      objects: [],
    });
  });
});
