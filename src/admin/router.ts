import { AdminMethodNotAllowedError, PathNotFoundError } from "./errors.js";

/** Path parameters by name, decoded. */
export type PathParams = Readonly<Record<string, string>>;

interface Route<H> {
  method: string;
  /** Segments; ":name" captures one. */
  segments: string[];
  handler: H;
}

/** A table of method + path pattern ("/apis/v2/objects/:name") → handler; 404 and 405 are answered by throwing. */
export class Router<H> {
  private readonly routes: Route<H>[] = [];

  add(method: string, pattern: string, handler: H): this {
    this.routes.push({ method, segments: pattern.split("/").filter(Boolean), handler });
    return this;
  }

  find(method: string, path: string): { handler: H; params: PathParams } {
    const segments = path.split("/").filter(Boolean);
    const matching = this.routes.flatMap((route) => {
      const params = matchSegments(route.segments, segments);
      return params === undefined ? [] : [{ route, params }];
    });
    if (matching.length === 0) throw new PathNotFoundError(path);
    const found = matching.find(({ route }) => route.method === method);
    if (found === undefined) {
      throw new AdminMethodNotAllowedError(
        method,
        matching.map(({ route }) => route.method),
      );
    }
    return { handler: found.route.handler, params: found.params };
  }
}

function matchSegments(pattern: readonly string[], segments: readonly string[]): PathParams | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, part] of pattern.entries()) {
    const segment = segments[index] ?? "";
    if (part.startsWith(":")) {
      try {
        params[part.slice(1)] = decodeURIComponent(segment);
      } catch {
        return undefined;
      }
    } else if (part !== segment) return undefined;
  }
  return params;
}
