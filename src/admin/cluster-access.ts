// What the cluster views of the admin API are given: the member list and how to call the other members.
import type { MemberSource } from "./members.js";

/** How this member reaches the other members' admin APIs: the same scheme and bearer token as its own. */
export interface PeerAccess {
  scheme: "http" | "https";
  token?: string;
  /** Per member; default 2 s. */
  timeoutMs?: number;
}

/** What the cluster endpoints need: the member list, and how to call the members. */
export interface ClusterAccess {
  members: MemberSource;
  peers: PeerAccess;
}
