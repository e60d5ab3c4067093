/** One server, two routes ("/" and "/other") to the same echo backend, as the cluster tests run it. */
export function clusterYaml(port: number, backendUrl: string): string {
  return `
kind: HTTPServer
name: cluster-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /other
        backend: other
      - pathPrefix: /
        backend: echo
---
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s
    drainWindow: 500ms
    pools:
      - servers: [{ url: ${backendUrl} }]
---
kind: Pipeline
name: other
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s
    drainWindow: 500ms
    pools:
      - servers: [{ url: ${backendUrl} }]
`;
}
