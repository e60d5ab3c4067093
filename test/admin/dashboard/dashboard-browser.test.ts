// The dashboard in Debian's Chromium (playwright-core) against the real CLI with WebSocket traffic: the token prompt
// refuses a wrong token, the session count and the message chart move, a session closed from the page ends with the
// chosen code at its client, a drained server gets no new sessions, a rejected reload shows its file:line error,
// and the page fits a phone. Screenshots go to a temp dir (and to docs/images/ with WSGATE_UPDATE_SCREENSHOT=1).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import WebSocket from "ws";
import { echoConfig } from "../../helpers/admin.js";
import { startBackend, type TestBackend } from "../../helpers/backends.js";
import { chromiumMissing, launchChromium, type Browser } from "../../helpers/chromium.js";
import { GatewayProcess } from "../../helpers/gateway-process.js";
import { freePort, withTimeout } from "../../helpers/net.js";

const TOKEN = "dashboard-browser-token";
const SHOTS = mkdtempSync(join(tmpdir(), "wsgate-dashboard-"));
const README_SHOT = fileURLToPath(new URL("../../../../docs/images/dashboard.png", import.meta.url));

/** A client that sends a message every 50 ms until closed; `closed` resolves with the close code it saw. */
interface ChattyClient {
  socket: WebSocket;
  localPort: number;
  closed: Promise<number>;
  stop(): void;
}

/** A second HTTPServer whose sessions live at most an hour: each has a deadline for the page to show. */
function timedConfig(port: number, backendPort: number): string {
  return `---
kind: HTTPServer
name: timed
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - path: /ws
        backend: lifetime
---
kind: Pipeline
name: lifetime
filters:
  - kind: WebSocketProxy
    name: proxy
    maxSessionDuration: 1h
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
`;
}

async function chattyClient(port: number, protocol?: string): Promise<ChattyClient> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, protocol === undefined ? [] : [protocol]);
  const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
  socket.on("error", () => undefined);
  await withTimeout(new Promise((resolve) => socket.once("open", resolve)), 5000, "a ws client to open");
  const timer = setInterval(() => {
    if (socket.readyState === WebSocket.OPEN) socket.send("tick");
  }, 50);
  void closed.then(() => clearInterval(timer));
  const localPort = (socket as unknown as { _socket: { localPort: number } })._socket.localPort;
  return {
    socket,
    localPort,
    closed,
    stop: () => {
      clearInterval(timer);
      socket.terminate();
    },
  };
}

/** Polls the page every 100 ms until `check` gives a value; gives up after `ms`. */
async function pageUntil<T>(check: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The refused token's own 401s are expected; any other console error is a fault (a CSP violation says so there). */
const EXPECTED_ERRORS = /status of 401 \(Unauthorized\)/;

const skip = chromiumMissing();

describe("dashboard in Chromium", { skip }, () => {
  const backends: TestBackend[] = [];
  const clients: ChattyClient[] = [];
  let gateway: GatewayProcess;
  let port: number;
  let timedPort: number;
  let timedBackend: TestBackend;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    backends.push(await startBackend(), await startBackend());
    timedBackend = await startBackend();
    port = await freePort();
    timedPort = await freePort();
    gateway = await GatewayProcess.start(
      echoConfig(
        port,
        backends.map((backend) => backend.port),
      ) + timedConfig(timedPort, timedBackend.port),
      { admin: true, args: ["--admin-token", TOKEN, "--watch"] },
    );
    browser = await launchChromium();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on("console", (message) => {
      if (message.type() === "error" && !EXPECTED_ERRORS.test(message.text())) pageErrors.push(message.text());
    });
    page.on("pageerror", (error) => pageErrors.push(error.message));
  });

  after(async () => {
    for (const client of clients) client.stop();
    await browser?.close();
    await gateway?.stop();
    for (const backend of backends) await backend.close();
    await timedBackend?.close();
  });

  it("asks for the token, refuses a wrong one, and goes live with the right one", async () => {
    const response = await page.goto(`http://127.0.0.1:${gateway.adminPort}/dashboard`);
    assert.equal(response?.status(), 200);
    const login = page.locator("#login");
    await login.waitFor({ state: "visible" });
    await page.fill("#token", "not-the-token");
    await page.click("#login-submit");
    await page.locator("#login-error", { hasText: "wrong token" }).waitFor();
    assert.ok(await login.isVisible(), "still asking");
    await page.fill("#token", TOKEN);
    await page.click("#login-submit");
    await login.waitFor({ state: "hidden" });
    await page.locator("#live", { hasText: "live" }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('wsgate-admin-token')"), TOKEN);
  });

  it("counts new sessions and charts their messages", async () => {
    await page.locator("#session-count", { hasText: "0" }).waitFor();
    for (let index = 0; index < 3; index += 1) clients.push(await chattyClient(port));
    await page.locator("#session-count", { hasText: "3" }).waitFor();
    await page.locator("#count-servers li", { hasText: "edge" }).waitFor();
    assert.equal(await page.locator("#session-table tbody tr").count(), 3);
    // Three clients sending 20 messages a second each: the chart's latest second is well above zero.
    const rate = await pageUntil(
      async () => {
        const text = (await page.textContent("#chart-messages .now")) ?? "";
        const value = Number(/client→backend ([\d.]+)/.exec(text)?.[1] ?? 0);
        return value > 10 ? value : undefined;
      },
      10_000,
      "the message chart to move",
    );
    assert.ok(rate > 10);
    assert.equal(await page.locator("#chart-messages canvas").count(), 1, "uPlot drew the chart");
    await page.evaluate("window.scrollTo(0, 0)");
    await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
  });

  it("closes a session found by search with the code chosen in the confirmation", async () => {
    const target = clients[0];
    assert.ok(target !== undefined);
    await page.fill("#session-search", `:${target.localPort}`);
    await pageUntil(
      async () => ((await page.locator("#session-table tbody tr").count()) === 1 ? true : undefined),
      5000,
      "the search to leave one row",
    );
    await page.click("#session-table tbody tr button");
    await page.locator("#confirm").waitFor({ state: "visible" });
    await page.selectOption("#close-code", "4000");
    await page.fill("#close-reason", "closed from the dashboard");
    await page.click("#confirm-ok");
    const code = await withTimeout(target.closed, 5000, "the client to see the close");
    assert.equal(code, 4000);
    await page.locator("#confirm").waitFor({ state: "hidden" });
    await page.fill("#session-search", "");
    await page.locator("#session-count", { hasText: "2" }).waitFor();
    await page.locator("#chart-closes .now", { hasText: "4000" }).waitFor();
  });

  it("shows each session's subprotocol and deadline (time left, or — without one), and charts refused handshakes by reason", async () => {
    const chat = await chattyClient(port, "chat.v1");
    clients.push(chat);
    await page.fill("#session-search", `:${chat.localPort}`);
    const cells = await pageUntil(
      async () => {
        const rows = page.locator("#session-table tbody tr");
        if ((await rows.count()) !== 1) return undefined;
        return rows.first().locator("td").allTextContents();
      },
      5000,
      "the new session's row",
    );
    const headers = await page.locator("#session-table thead th").allTextContents();
    const column = (name: string): string | undefined => cells[headers.indexOf(name)];
    assert.equal(column("protocol"), "chat.v1");
    assert.equal(column("deadline"), "—");
    await page.fill("#session-search", "chat.v1");
    assert.equal(await page.locator("#session-table tbody tr").count(), 1, "search finds the subprotocol");

    // A session with a deadline (maxSessionDuration: 1h) shows the time left.
    const timed = await chattyClient(timedPort);
    clients.push(timed);
    await page.fill("#session-search", `:${timed.localPort}`);
    const timedCells = await pageUntil(
      async () => {
        const rows = page.locator("#session-table tbody tr");
        if ((await rows.count()) !== 1) return undefined;
        return rows.first().locator("td").allTextContents();
      },
      5000,
      "the timed session's row",
    );
    assert.match(timedCells[headers.indexOf("deadline")] ?? "", /^in (59m\d+s|1h0m)$/);
    assert.equal(timedCells[headers.indexOf("protocol")], "—");
    await page.fill("#session-search", "");

    // No route for this path: 404, counted as route_not_found.
    const refused = new WebSocket(`ws://127.0.0.1:${port}/nowhere`);
    const status = await withTimeout(
      new Promise<number>((resolve) => {
        refused.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
        refused.once("error", () => resolve(0));
      }),
      5000,
      "the refusal",
    );
    assert.equal(status, 404);
    await page.locator("#chart-refusal-reasons .now", { hasText: "route_not_found" }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator("#chart-refusal-reasons canvas").count(), 1, "uPlot drew the chart");
  });

  it("drains a server from the page: it gets no new sessions", async () => {
    const [drained, kept] = backends as [TestBackend, TestBackend];
    const row = page.locator(`#pool-list tr[data-backend="127.0.0.1:${drained.port}"]`);
    await row.locator("button").click();
    await page.locator("#confirm").waitFor({ state: "visible" });
    await page.fill("#drain-over", "0");
    await page.click("#confirm-ok");
    await page.locator("#confirm").waitFor({ state: "hidden" });
    await row.locator(".state-draining").waitFor();
    const before = { drained: drained.upgrades.length, kept: kept.upgrades.length };
    for (let index = 0; index < 4; index += 1) clients.push(await chattyClient(port));
    assert.equal(drained.upgrades.length, before.drained, "no new session on the drained server");
    assert.equal(kept.upgrades.length, before.kept + 4);
  });

  it("lists a rejected reload with its file:line error", async () => {
    const bad = "---\nkind: HTTPServer\nname: bad\nport: nope\nrules: []\n";
    gateway.rewriteConfig(`${echoConfig(port, [backends[0]?.port ?? 0])}${bad}`);
    await page.locator("#change-list .outcome-rejected").waitFor({ timeout: 15_000 });
    const text = (await page.textContent("#change-list")) ?? "";
    assert.match(text, /gateway\.yaml:\d+/);
  });

  it("fits a phone-sized screen and broke no rule of its Content-Security-Policy", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate("window.scrollTo(0, 0)");
    await page.waitForTimeout(1500);
    const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"));
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
    await page.screenshot({ path: join(SHOTS, "dashboard-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.evaluate("window.scrollTo(0, 0)");
    await page.waitForTimeout(1500);
    if (process.env.WSGATE_UPDATE_SCREENSHOT === "1") {
      mkdirSync(join(README_SHOT, ".."), { recursive: true });
      await page.screenshot({ path: README_SHOT, fullPage: true });
    }
    assert.deepEqual(pageErrors, [], "no script error or CSP violation in the console");
    console.log(`# screenshots in ${SHOTS}`);
  });
});
