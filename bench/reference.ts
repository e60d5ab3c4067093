/**
 * Published reference figures from issue 7, for readers to set this run's figures against. They were NOT
 * measured by this bench run: another time, another (2-core) machine, each proxy pinned to one core.
 */
export function referenceTable(): string {
  return [
    "## Published reference (not measured in this run)",
    "",
    "Figures quoted in issue 7 from an earlier measurement on a 2-core machine with the proxy pinned to one core; they are here for comparison only and come from neither this run nor this machine.",
    "",
    "| figure | nginx 1.22 | HAProxy 2.6 | node http-proxy | @fastify/http-proxy |",
    "| --- | --- | --- | --- | --- |",
    "| proxy CPU per echoed 64 B message | ~21 µs | ~21 µs | 31 µs | 46 µs |",
    "| proxy CPU per echoed 16 KiB message | 44–77 µs (native proxies) | 44–77 µs (native proxies) | 58 µs | — |",
    "| proxy CPU per pipelined stream message | < 1 µs (tunnels) | < 1 µs (tunnels) | < 1 µs (tunnels) | — |",
    "| proxy CPU per open + echo + close | ~155 µs | — | 440–760 µs (Node proxies) | 440–760 µs (Node proxies) |",
    "| idle RSS per connection | 17.6 KiB | 4.6 KiB | 11.6 KiB | — |",
    "",
  ].join("\n");
}
