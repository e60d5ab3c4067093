// The dashboard as the admin listener sees it: its page and files (no token: the page asks for it) and its stream
// (behind the token like every API path). Everything else about it lives in this folder.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { GatewayControl } from "../../control/control.js";
import type { MemberSource } from "../members.js";
import { DashboardAssets, isDashboardPath } from "./assets.js";
import type { ConfigChangeRing } from "./config-changes.js";
import { DashboardFeed } from "./feed.js";
import { DASHBOARD_STREAM_PATH, DashboardStreams } from "./stream.js";

export class Dashboard {
  private readonly assets = new DashboardAssets();
  private readonly feed: DashboardFeed;
  private readonly streams: DashboardStreams;

  constructor(control: GatewayControl, changes?: ConfigChangeRing, members?: MemberSource) {
    this.feed = new DashboardFeed(control, changes, members);
    this.streams = new DashboardStreams(this.feed);
  }

  /** Serves the page or one of its files and returns true, or returns false for any other path. */
  servePage(request: IncomingMessage, response: ServerResponse, url: URL): boolean {
    if (!isDashboardPath(url.pathname)) return false;
    this.assets.serve(request, response, url.pathname, url.searchParams);
    return true;
  }

  /** Opens the stream and returns true, or returns false for any other request. Only after the token is checked. */
  serveStream(request: IncomingMessage, response: ServerResponse, url: URL): boolean {
    if (url.pathname !== DASHBOARD_STREAM_PATH || request.method !== "GET") return false;
    this.streams.serve(request, response);
    return true;
  }

  stop(): void {
    this.feed.stop();
  }
}
