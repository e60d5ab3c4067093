// The page's sections, redrawn from each `state` event. The session table keeps one row per session id, so a row
// (and its button) stays put while its numbers change.
import { byId, element, formatAge, formatBytes, formatDeadline, row } from "./dom.js";
import type { DashboardState, PoolRow, SessionRow } from "./types.js";

export interface Levers {
  closeSession(session: SessionRow): void;
  drainServer(pool: PoolRow, backend: string, sessions: number): void;
}

function countList(id: string, counts: Record<string, number>): void {
  const items = Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, count]) => {
      const li = element("li");
      li.append(element("span", name), element("strong", String(count)));
      return li;
    });
  if (items.length === 0) items.push(element("li", "none"));
  byId("count-" + id).replaceChildren(...items);
}

export class SessionTable {
  private readonly rows = new Map<string, { tr: HTMLTableRowElement; session: SessionRow }>();
  private readonly body: HTMLTableSectionElement;
  private readonly search = byId<HTMLInputElement>("session-search");
  private readonly server = byId<HTMLSelectElement>("session-server");
  private last: DashboardState | undefined;

  constructor(private readonly levers: Levers) {
    const body = byId<HTMLTableElement>("session-table").tBodies[0];
    if (body === undefined) throw new Error("the session table has no body");
    this.body = body;
    this.search.addEventListener("input", () => this.redraw());
    this.server.addEventListener("change", () => this.redraw());
  }

  show(state: DashboardState): void {
    this.last = state;
    const servers = Object.keys(state.counts.servers).sort();
    const options = [...this.server.options].map((option) => option.value).filter((value) => value !== "");
    if (options.join() !== servers.join()) {
      const chosen = this.server.value;
      this.server.replaceChildren(new Option("every HTTPServer", ""), ...servers.map((name) => new Option(name, name)));
      this.server.value = servers.includes(chosen) ? chosen : "";
    }
    this.redraw();
  }

  private redraw(): void {
    const state = this.last;
    if (state === undefined) return;
    const words = this.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const server = this.server.value;
    const shown = state.sessions.filter((session) => {
      if (server !== "" && session.server !== server) return false;
      const text = `${session.id} ${session.server} ${session.route} ${session.pipeline} ${session.backend} ${session.client} ${session.protocol ?? ""}`;
      return words.every((word) => text.toLowerCase().includes(word));
    });
    const keep = new Set(shown.map((session) => session.id));
    for (const [id, { tr }] of this.rows) {
      if (!keep.has(id)) {
        tr.remove();
        this.rows.delete(id);
      }
    }
    for (const session of shown) {
      const cells = [
        session.id,
        session.server,
        session.route,
        session.backend,
        session.client,
        session.protocol ?? "—",
        formatAge(session.ageMs),
        formatDeadline(session.deadline, state.t),
        `${session.clientMessages} / ${session.backendMessages}`,
        `${formatBytes(session.clientBytes)} / ${formatBytes(session.backendBytes)}`,
      ];
      const known = this.rows.get(session.id);
      if (known === undefined) {
        const button = element("button", "Close…");
        button.type = "button";
        button.dataset["session"] = session.id;
        const entry = { tr: row([...cells, button]), session };
        button.addEventListener("click", () => this.levers.closeSession(entry.session));
        entry.tr.dataset["session"] = session.id;
        this.rows.set(session.id, entry);
        this.body.append(entry.tr);
      } else {
        known.session = session;
        cells.forEach((text, index) => {
          const cell = known.tr.cells[index];
          if (cell !== undefined && cell.textContent !== text) cell.textContent = text;
        });
      }
    }
    const capped = state.sessionCount > state.sessions.length ? ` (the first ${state.sessions.length} listed)` : "";
    byId("session-shown").textContent = `${shown.length} of ${state.sessionCount} shown${capped}`;
  }
}

function showPools(pools: readonly PoolRow[], levers: Levers): void {
  const blocks = pools.map((pool) => {
    const block = element("div", undefined, "pool");
    const title = `${pool.pool} · ${pool.policy}${pool.healthCheck ? " · health checks" : ""}`;
    block.append(element("h3", pool.available ? title : `${title} · NO SERVER AVAILABLE`));
    const table = element("table");
    table.createTHead().append(row(["server", "state", "weight", "sessions", "last check", "reason", ""]));
    const body = table.createTBody();
    for (const server of pool.servers) {
      const check = server.check;
      const last =
        check?.lastAt === undefined
          ? "–"
          : `${check.lastOk === true ? "ok" : "failed"} ${formatAge(Date.now() - Date.parse(check.lastAt))} ago`;
      const drain = element("button", "Drain…");
      drain.type = "button";
      drain.dataset["backend"] = server.backend;
      drain.disabled = server.state === "draining";
      drain.addEventListener("click", () => levers.drainServer(pool, server.backend, server.activeConnections));
      const tr = row([
        server.backend,
        element("span", server.state, `state-${server.state}`),
        server.weight,
        server.activeConnections,
        last,
        check?.lastReason ?? server.reason,
        drain,
      ]);
      tr.dataset["backend"] = server.backend;
      body.append(tr);
    }
    const scroll = element("div", undefined, "scroll");
    scroll.append(table);
    block.append(scroll);
    return block;
  });
  byId("pool-list").replaceChildren(...(blocks.length === 0 ? [element("p", "no pools")] : blocks));
}

function showObjects(state: DashboardState): void {
  const body = byId<HTMLTableElement>("object-table").tBodies[0];
  body?.replaceChildren(
    ...state.objects.map((object) => row([object.name, object.kind, object.revision, object.source ?? ""])),
  );
  byId("apply-error").textContent = state.lastApplyError === null ? "" : `last apply failed: ${state.lastApplyError}`;
  const changes = [...state.configChanges].reverse().map((change) => {
    const li = element("li");
    li.append(
      element("span", change.outcome === "applied" ? "config_applied" : "config_rejected", `outcome-${change.outcome}`),
      element("span", ` ${new Date(change.at).toLocaleTimeString()}${change.trigger ? ` (${change.trigger})` : ""}`),
    );
    if (change.errors.length > 0) {
      const errors = element("ul", undefined, "error");
      for (const error of change.errors) errors.append(element("li", error));
      li.append(errors);
    }
    return li;
  });
  byId("change-list").replaceChildren(...(changes.length === 0 ? [element("li", "none since start")] : changes));
}

function showMembers(state: DashboardState): void {
  const section = byId("members");
  section.hidden = state.members === undefined;
  if (state.members === undefined) return;
  byId("members-error").textContent = state.members.error ?? "";
  byId<HTMLTableElement>("member-table").tBodies[0]?.replaceChildren(
    ...state.members.members.map((member) =>
      row([member.id, member.address || "–", member.adminAddress ?? "–", member.sessions, member.version]),
    ),
  );
}

export function showState(state: DashboardState, table: SessionTable, levers: Levers): void {
  byId("session-count").textContent = String(state.sessionCount);
  countList("servers", state.counts.servers);
  countList("routes", state.counts.routes);
  countList("backends", state.counts.backends);
  table.show(state);
  showPools(state.pools, levers);
  showObjects(state);
  showMembers(state);
}
