// The cluster views of the admin API: `GET /apis/v2/members` (from etcd) and `GET /apis/v2/cluster/sessions`, which
// asks every member's own admin API for its sessions. `/metrics` and `/apis/v2/sessions` stay per member.
import type { SessionView } from "../control/control.js";
import type { MemberInfo } from "../control/membership.js";
import { NoClusterError } from "./errors.js";
import type { PeerAccess } from "./cluster-access.js";
import { membersAnswer } from "./members.js";
import type { AdminAnswer, AdminRequest } from "./response.js";

/** A session of the cluster view: which member holds it. */
export type ClusterSessionView = SessionView & { member: string };

/** How each member answered the cluster view. */
export interface MemberAnswer {
  id: string;
  adminAddress?: string;
  answered: boolean;
  sessions?: number;
  error?: string;
}

export interface ClusterSessionsBody {
  sessions: ClusterSessionView[];
  members: MemberAnswer[];
}

const PEER_TIMEOUT_MS = 2000;

/** `GET /apis/v2/members`: the live members, 404 without a cluster store, 503 while etcd is away. */
export async function listMembersRoute({ cluster }: AdminRequest): Promise<AdminAnswer> {
  return membersAnswer(cluster?.members);
}

/**
 * `GET /apis/v2/cluster/sessions`: every member's live sessions, each with its `member`; members that did not answer
 * within 2 s (or have no admin API) are marked `answered: false` with why, and the others still count.
 */
export async function clusterSessionsRoute({ cluster }: AdminRequest): Promise<AdminAnswer> {
  if (cluster === undefined) throw new NoClusterError();
  // etcd away: StoreUnavailableError, a 503 with the reason.
  const members = await cluster.members.listMembers();
  const answers = await Promise.all(members.map((member) => askMember(member, cluster.peers)));
  const body: ClusterSessionsBody = {
    sessions: answers.flatMap((answer) => answer.sessions),
    members: answers.map((answer) => answer.member),
  };
  return { status: 200, body };
}

async function askMember(
  member: MemberInfo,
  peers: PeerAccess,
): Promise<{ member: MemberAnswer; sessions: ClusterSessionView[] }> {
  const base: MemberAnswer = {
    id: member.id,
    answered: false,
    ...(member.adminAddress === undefined ? {} : { adminAddress: member.adminAddress }),
  };
  if (member.adminAddress === undefined || member.adminAddress === "") {
    return { member: { ...base, error: "no admin API" }, sessions: [] };
  }
  try {
    const response = await fetch(`${peers.scheme}://${member.adminAddress}/apis/v2/sessions`, {
      headers: {
        Accept: "application/json",
        ...(peers.token === undefined ? {} : { Authorization: `Bearer ${peers.token}` }),
      },
      signal: AbortSignal.timeout(peers.timeoutMs ?? PEER_TIMEOUT_MS),
    });
    const text = await response.text();
    if (!response.ok) return { member: { ...base, error: `HTTP ${response.status}` }, sessions: [] };
    const list = JSON.parse(text) as SessionView[];
    if (!Array.isArray(list)) return { member: { ...base, error: "not a session list" }, sessions: [] };
    return {
      member: { ...base, answered: true, sessions: list.length },
      sessions: list.map((session) => ({ ...session, member: member.id })),
    };
  } catch (error) {
    const timedOut = (error as Error).name === "TimeoutError";
    const reason = timedOut ? `no answer within ${peers.timeoutMs ?? PEER_TIMEOUT_MS} ms` : (error as Error).message;
    return { member: { ...base, error: reason }, sessions: [] };
  }
}
