// `permessageDeflate: strip`: the client's compression offers are taken out of the backend's upgrade request, so that
// no compressed frame can cross the relay and message limits count the bytes the backend will really get.

/** Extensions that compress payloads: the standard one and the pre-standard one some old clients still offer. */
const COMPRESSING = new Set(["permessage-deflate", "x-webkit-deflate-frame"]);

/** Offers of one `Sec-WebSocket-Extensions` value, split at commas outside quoted parameter values. */
function offersOf(value: string): string[] {
  const offers: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const char = value[i];
    if (char === '"') quoted = !quoted;
    else if (char === "\\" && quoted) i++;
    else if (char === "," && !quoted) {
      offers.push(value.slice(start, i));
      start = i + 1;
    }
  }
  offers.push(value.slice(start));
  return offers.map((offer) => offer.trim()).filter((offer) => offer.length > 0);
}

function compresses(offer: string): boolean {
  return COMPRESSING.has((offer.split(";")[0] ?? "").trim().toLowerCase());
}

/** Whether an extension name (as `checkClientUpgrade` lists them) is one that `strip` removes. */
export function isCompressingExtension(name: string): boolean {
  return COMPRESSING.has(name);
}

/** `headers` with every compressing offer removed from `Sec-WebSocket-Extensions`; a value left empty is dropped. */
export function withoutCompressionOffers(
  headers: ReadonlyArray<readonly [string, string]>,
): Array<readonly [string, string]> {
  const kept: Array<readonly [string, string]> = [];
  for (const header of headers) {
    if (header[0].toLowerCase() !== "sec-websocket-extensions") {
      kept.push(header);
      continue;
    }
    const value = withoutCompressionIn(header[1]);
    if (value !== undefined) kept.push([header[0], value]);
  }
  return kept;
}

/** One `Sec-WebSocket-Extensions` value without its compressing offers; undefined when none is left. */
export function withoutCompressionIn(value: string): string | undefined {
  const offers = offersOf(value).filter((offer) => !compresses(offer));
  return offers.length > 0 ? offers.join(", ") : undefined;
}
