// The confirmations before an operator's lever: closing a session (with a close code) and draining a server (with a
// window). Each runs its action from the dialog and shows the API's error there when it fails.
import { byId, element } from "./dom.js";

/** Codes an operator would pick; any other 1000, 1001, 1008 or 3000–4999 may be typed. */
const CLOSE_CODES: ReadonlyArray<[string, string]> = [
  ["1008", "1008 policy violation (default)"],
  ["1000", "1000 normal"],
  ["1001", "1001 going away"],
  ["1011", "1011 internal error"],
  ["1012", "1012 service restart"],
  ["1013", "1013 try again later"],
  ["4000", "4000 (application)"],
];

interface Confirmation {
  title: string;
  text: string;
  fields: HTMLElement[];
  ok: string;
  run(): Promise<void>;
}

function ask(confirmation: Confirmation): void {
  const dialog = byId<HTMLDialogElement>("confirm");
  byId("confirm-title").textContent = confirmation.title;
  byId("confirm-text").textContent = confirmation.text;
  byId("confirm-fields").replaceChildren(...confirmation.fields);
  byId("confirm-ok").textContent = confirmation.ok;
  const error = byId("confirm-error");
  error.textContent = "";
  const form = byId<HTMLFormElement>("confirm-form");
  form.onsubmit = (event) => {
    event.preventDefault();
    confirmation.run().then(
      () => dialog.close(),
      (failure: unknown) => (error.textContent = (failure as Error).message),
    );
  };
  byId("confirm-cancel").onclick = () => dialog.close();
  dialog.showModal();
}

function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const label = element("label", text);
  label.append(control);
  return label;
}

export function confirmClose(
  session: { id: string; client: string; route: string },
  close: (code: number, reason: string) => Promise<void>,
): void {
  const code = element("select");
  code.id = "close-code";
  for (const [value, text] of CLOSE_CODES) code.append(new Option(text, value));
  const reason = element("input");
  reason.id = "close-reason";
  reason.maxLength = 120;
  reason.placeholder = "closed by an operator";
  ask({
    title: `Close session ${session.id}?`,
    text: `${session.client} on ${session.route}: both sides are closed with the chosen code.`,
    fields: [labelled("Close code", code), labelled("Reason", reason)],
    ok: "Close session",
    run: () => close(Number(code.value), reason.value),
  });
}

export function confirmDrain(
  server: { backend: string; pool: string; sessions: number },
  drain: (over: string) => Promise<void>,
): void {
  const over = element("input");
  over.id = "drain-over";
  over.value = "30s";
  over.required = true;
  over.pattern = "0|[0-9]+(ms|s|m|h)";
  ask({
    title: `Drain ${server.backend}?`,
    text:
      `No new sessions go to ${server.backend} in ${server.pool}; its ${server.sessions} live session(s) are ` +
      `closed with 1001 (or the pool's backendCloseCodes.drained), one at a time spread evenly over the window.`,
    fields: [labelled("Window (e.g. 30s, 5m, 0 for at once)", over)],
    ok: "Drain",
    run: () => drain(over.value),
  });
}
