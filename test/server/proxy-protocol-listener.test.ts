// The PROXY protocol front on its own: which connections count as still sending their header (what destroyPending
// ends when the listener closes) and which were handed over or refused and must be left alone.
import assert from "node:assert/strict";
import net, { type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, it } from "node:test";
import { ProxyProtocolFront } from "../../src/server/proxy-protocol-listener.js";
import type { AddressSet } from "../../src/util/net/ip-address.js";
import { withTimeout } from "../helpers/net.js";

const HEADER = "PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\n";
const TRUSTED = { has: () => true } as unknown as AddressSet;

interface Started {
  front: ProxyProtocolFront;
  port: number;
  accepted: Socket[];
  refused: string[];
}

let open: Started | undefined;

async function start(headerTimeout = 5000): Promise<Started> {
  const accepted: Socket[] = [];
  const refused: string[] = [];
  const front = new ProxyProtocolFront({
    trusted: () => TRUSTED,
    headerTimeout,
    accepted: (socket) => accepted.push(socket),
    refused: (_socket, reason) => refused.push(reason),
  });
  await new Promise<void>((resolve) => front.server.listen(0, "127.0.0.1", resolve));
  open = { front, port: (front.server.address() as AddressInfo).port, accepted, refused };
  return open;
}

afterEach(async () => {
  if (open === undefined) return;
  for (const socket of open.accepted) socket.destroy();
  open.front.destroyPending();
  await new Promise((resolve) => open?.front.server.close(resolve));
  open = undefined;
});

/** A client that sends `bytes`; resolves once connected and written. */
async function client(port: number, bytes: string): Promise<Socket> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  if (bytes !== "") socket.write(bytes);
  return socket;
}

const closed = (socket: Socket): Promise<void> =>
  socket.destroyed && socket.readableEnded
    ? Promise.resolve()
    : withTimeout(new Promise<void>((resolve) => socket.once("close", () => resolve())), 3000, "the close");

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(check(), what);
}

describe("PROXY protocol front: pending connections", () => {
  it("destroyPending ends the connections still sending their header, not the ones handed over", async () => {
    const { front, port, accepted } = await start();
    // Many handed over first: each must have left the pending ones as it went, or destroyPending would cut it.
    const done: Socket[] = [];
    for (let i = 0; i < 50; i++) done.push(await client(port, `${HEADER}GET / HTTP/1.1\r\n\r\n`));
    await until(() => accepted.length === 50, "every complete header handed over");
    const halfway = [await client(port, "PROXY TCP4 192.0"), await client(port, "")];
    await until(() => front.server.listening && halfway.every((s) => s.writable), "the pending ones connected");
    await new Promise((resolve) => setTimeout(resolve, 50));
    front.destroyPending();
    await Promise.all(halfway.map(closed));
    assert.equal(
      accepted.filter((socket) => socket.destroyed).length,
      0,
      "destroyPending cut a connection already handed over",
    );
    for (const socket of done) socket.destroy();
  });

  it("a header that does not come in time is refused once, and the connection is then no longer pending", async () => {
    const { front, port, accepted, refused } = await start(100);
    const slow = await client(port, "PROXY TCP4");
    await closed(slow);
    assert.deepEqual(refused, ["PROXY header took too long"]);
    const later = await client(port, `${HEADER}GET / HTTP/1.1\r\n\r\n`);
    await until(() => accepted.length === 1, "the next connection handed over");
    front.destroyPending();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(accepted[0]?.destroyed, false, "a connection handed over was cut");
    assert.deepEqual(refused, ["PROXY header took too long"]);
    later.destroy();
  });
});
