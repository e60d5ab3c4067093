import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatMembers, membersAnswer } from "../../src/admin/members.js";
import type { MemberInfo } from "../../src/control/membership.js";
import { StoreUnavailableError } from "../../src/errors.js";

const member: MemberInfo = {
  id: "gw-1",
  address: "0.0.0.0",
  adminAddress: "127.0.0.1:2381",
  version: "0.1.0",
  startedAt: "2024-01-01T00:00:00.000Z",
  sessions: 12,
};

describe("GET /apis/v2/members", () => {
  it("answers the members, 404 without a cluster, 503 while etcd is away", async () => {
    assert.deepEqual(await membersAnswer({ listMembers: async () => [member] }), {
      status: 200,
      body: { members: [member] },
    });
    assert.equal((await membersAnswer(undefined)).status, 404);
    const away = await membersAnswer({
      listMembers: () => Promise.reject(new StoreUnavailableError("list members", "connection refused")),
    });
    assert.equal(away.status, 503);
  });

  it("prints a table for `wsgate members`", () => {
    const text = formatMembers([member], Date.parse("2024-01-01T00:01:00.000Z"));
    assert.equal(
      text,
      "ID    ADDRESS  ADMIN           SESSIONS  AGE   VERSION\ngw-1  0.0.0.0  127.0.0.1:2381  12        1m0s  0.1.0\n",
    );
  });
});
