// GET /apis/v2/members and the table `wsgate members` prints. Self-contained so the admin API can route to it.
import type { MemberInfo } from "../control/membership.js";
import { formatAge, renderTable } from "../util/table.js";
import { ObjectStoreError } from "../errors.js";

/** What the handler needs: Membership, or anything that lists members the same way. */
export interface MemberSource {
  listMembers(): Promise<MemberInfo[]>;
}

export interface MembersAnswer {
  status: number;
  body: { members: MemberInfo[] } | { code: string; message: string };
}

/**
 * The answer to `GET /apis/v2/members`: 200 with the live members; 404 when this gateway runs without a cluster
 * store; 503 when etcd cannot be asked (the gateway itself keeps serving).
 */
export async function membersAnswer(source: MemberSource | undefined): Promise<MembersAnswer> {
  if (source === undefined) {
    return {
      status: 404,
      body: { code: "WSG_NO_CLUSTER", message: "this gateway is not in a cluster (start it with --store etcd://...)" },
    };
  }
  try {
    return { status: 200, body: { members: await source.listMembers() } };
  } catch (error) {
    if (error instanceof ObjectStoreError) {
      return { status: error.status, body: { code: error.code, message: error.message } };
    }
    throw error;
  }
}

/** `wsgate members`: ID ADDRESS ADMIN SESSIONS AGE VERSION, one line per member, ages relative to `now`. */
export function formatMembers(members: readonly MemberInfo[], now = Date.now()): string {
  const rows = members.map((member) => [
    member.id,
    member.address === "" ? "-" : member.address,
    member.adminAddress ?? "-",
    String(member.sessions),
    formatAge(now - Date.parse(member.startedAt)),
    member.version,
  ]);
  return renderTable(["ID", "ADDRESS", "ADMIN", "SESSIONS", "AGE", "VERSION"], rows);
}
