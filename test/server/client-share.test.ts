// maxConnectionsPerIP (issue 15 item 8): the places one address holds, and nothing taken from other addresses.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { ClientShares, clientShareOf } from "../../src/server/client-share.js";

class Holder extends EventEmitter {
  destroyed = false;
  close(): void {
    this.destroyed = true;
    this.emit("close");
  }
}

describe("ClientShares", () => {
  it("the default share is a quarter of maxConnections, rounded up, at least 1; an explicit value wins", () => {
    const table: Array<[number, number | undefined, number]> = [
      [30, undefined, 8],
      [10240, undefined, 2560],
      [1, undefined, 1],
      [3, undefined, 1],
      [4, undefined, 1],
      [5, undefined, 2],
      [30, 30, 30],
      [30, 0, 0],
    ];
    for (const [maxConnections, maxConnectionsPerIP, share] of table) {
      assert.equal(
        clientShareOf({ maxConnections, maxConnectionsPerIP }),
        share,
        `${maxConnections}/${maxConnectionsPerIP}`,
      );
    }
  });

  it("one address is held to its share while others still get in; a closed holder gives its place back", () => {
    const shares = new ClientShares(2);
    const a = [new Holder(), new Holder(), new Holder()];
    assert.deepEqual(
      a.map((holder) => shares.take("192.0.2.1", holder)),
      [true, true, false],
    );
    assert.equal(shares.take("192.0.2.2", new Holder()), true);
    assert.equal(shares.take("2001:db8::1", new Holder()), true);
    a[0]?.close();
    a[0]?.close();
    assert.equal(shares.take("192.0.2.1", new Holder()), true, "the place came back (once)");
    assert.equal(shares.take("192.0.2.1", new Holder()), false);
    const gone = new Holder();
    gone.destroyed = true;
    assert.equal(shares.take("192.0.2.1", gone), true, "a holder already gone holds nothing");
    shares.limit = 0;
    assert.equal(shares.take("192.0.2.1", new Holder()), true, "0: no limit");
  });
});
