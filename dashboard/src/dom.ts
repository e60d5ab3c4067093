// Small DOM helpers: text only (never HTML from the API), and rows rebuilt in place.

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  className?: string,
): HTMLElementTagNameMap[K] {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className !== undefined) made.className = className;
  return made;
}

/** A table row of plain cells; a number cell is right-aligned. */
export function row(cells: ReadonlyArray<string | number | HTMLElement>): HTMLTableRowElement {
  const tr = element("tr");
  for (const cell of cells) {
    const td = element("td");
    if (cell instanceof HTMLElement) td.append(cell);
    else {
      td.textContent = String(cell);
      if (typeof cell === "number") td.className = "num";
    }
    tr.append(td);
  }
  return tr;
}

export function formatAge(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours}h${minutes % 60}m` : `${Math.floor(hours / 24)}d`;
}

/** A session's deadline (epoch ms) as time left at `now` (the sample's time, the gateway's clock); "—" without one. */
export function formatDeadline(deadline: number | undefined, now: number): string {
  if (typeof deadline !== "number") return "—";
  const left = deadline - now;
  return left <= 0 ? "due" : `in ${formatAge(left)}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}
