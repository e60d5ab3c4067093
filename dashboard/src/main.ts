// The dashboard page: asks for the admin token when the API wants one, opens the one stream, and draws every event.
import { NeedsTokenError, call, storeToken, storedToken } from "./api.js";
import { Charts } from "./charts.js";
import { confirmClose, confirmDrain } from "./dialogs.js";
import { byId } from "./dom.js";
import { DashboardStream } from "./stream.js";
import type { DashboardState, PoolRow, RateSample, SessionRow } from "./types.js";
import { SessionTable, showState, type Levers } from "./views.js";

const live = byId("live");
const charts = new Charts(byId);

const levers: Levers = {
  closeSession(session: SessionRow): void {
    confirmClose(session, async (code, reason) => {
      const query = new URLSearchParams({ code: String(code), ...(reason === "" ? {} : { reason }) });
      await call("DELETE", `/apis/v2/sessions/${encodeURIComponent(session.id)}?${query}`);
    });
  },
  drainServer(pool: PoolRow, backend: string, sessions: number): void {
    confirmDrain({ backend, pool: pool.pool, sessions }, async (over) => {
      await call("POST", "/apis/v2/servers/drain", { server: backend, pool: pool.pool, over });
    });
  },
};
const table = new SessionTable(levers);

function setLive(text: string, ok: boolean): void {
  live.textContent = text;
  live.className = ok ? "live ok" : "live down";
}

const stream = new DashboardStream({
  connected: () => setLive("live", true),
  broken: (reason) => setLive(`reconnecting (${reason})`, false),
  needsToken: () => askForToken(storedToken() === "" ? "" : "the stored token was refused"),
  event(name, data) {
    if (name === "history") charts.history(data as RateSample[]);
    else if (name === "sample") charts.add(data as RateSample);
    else if (name === "state") {
      showState(data as DashboardState, table, levers);
      setLive(`live · ${new Date((data as DashboardState).t).toLocaleTimeString()}`, true);
    }
  },
});

function askForToken(message: string): void {
  stream.stop();
  setLive("signed out", false);
  const dialog = byId<HTMLDialogElement>("login");
  byId("login-error").textContent = message;
  if (!dialog.open) dialog.showModal();
  byId<HTMLInputElement>("token").focus();
}

byId<HTMLFormElement>("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>("token");
  const error = byId("login-error");
  error.textContent = "checking…";
  // A cheap call that needs the token: a wrong one is refused here, before it is kept.
  call("GET", "/apis/v2/object-kinds", undefined, input.value).then(
    () => {
      storeToken(input.value);
      input.value = "";
      error.textContent = "";
      byId<HTMLDialogElement>("login").close();
      byId("logout").hidden = false;
      stream.start();
    },
    (failure: unknown) => {
      error.textContent = failure instanceof NeedsTokenError ? "wrong token" : (failure as Error).message;
      input.select();
    },
  );
});

byId("logout").addEventListener("click", () => {
  storeToken("");
  byId("logout").hidden = true;
  askForToken("");
});

byId("logout").hidden = storedToken() === "";
stream.start();
