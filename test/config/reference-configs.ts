// Configs users bring, verbatim from the Easegress WebSocket guides in /work/shared/reference (000 and 001).
// They live in strings, not .yaml fixtures, so that formatters cannot touch them: they must validate as written.

/** Reference 000: the pipeline and the server of the guide's "Spec" section. */
export const REFERENCE_000 = `# Easegress WebSocket guide (reference 000), both objects exactly as written there.
name: websocket-pipeline
kind: Pipeline

flow:
- filter: wsproxy

filters:
- kind: WebSocketProxy
  name: wsproxy
  defaultOrigin: http://127.0.0.1/hello
  pools:
  - servers:
    - url: ws://127.0.0.1:12345
---
name: demo-server
kind: HTTPServer
port: 8080
rules:
- paths:
  - path: /ws
    clientMaxBodySize: -1          # REQUIRED!
    backend: websocket-pipeline
`;

/** Reference 001: the same two objects with a four-server pool, plus the health check example in a pipeline. */
export const REFERENCE_001 = `# Easegress WebSocket guide (reference 001): pipeline and server exactly as written there.
name: websocket-pipeline
kind: Pipeline

flow:
- filter: wsproxy

filters:
- kind: WebSocketProxy
  name: wsproxy
  defaultOrigin: http://127.0.0.1/hello
  pools:
  - servers:
    - url: ws://127.0.0.1:12345
      # keepHost: true, the \`Host\` will be the same as the original request
      # If the backend is a load balancer, it would prove to be highly beneficial
      keepHost: true
    - url: ws://127.0.0.1:9095
    - url: ws://127.0.0.1:9096
    - url: ws://127.0.0.1:9097
    loadBalance:
      policy: roundRobin
    # the max number of bytes to read for a single message in 
    # client/server connection.
    # default is 32769, set -1 to disable limit.
    clientMaxMsgSize: 32769
    serverMaxMsgSize: 32769
---
name: demo-server
kind: HTTPServer
port: 8080
rules:
- paths:
  - path: /ws
    clientMaxBodySize: -1          # REQUIRED!
    backend: websocket-pipeline
---
# The guide's health check example is a bare filter; here it is the filter of a pipeline, unchanged.
name: health-check-pipeline
kind: Pipeline
filters:
- kind: WebSocketProxy
  name: proxy-example-1
  pools:
  - servers:
    - url: ws://127.0.0.1:9095
    - url: ws://127.0.0.1:9096
    - url: ws://127.0.0.1:9097
    healthCheck:
      # interval between health checks (default: 60s)
      interval: 60s
      # timeout for health check response (default: 3s)
      timeout: 3s
      # fail threshold to mark server as unhealthy (default: 1)
      fails: 1
      # success threshold to mark server as healthy (default: 1)
      pass: 1

      ws:
        # health check request port (defaults to server's port, e.g., 9095)
        port: 10080
        # uri for health check
        uri: /health/ws
        # http request headers for health check
        headers:
          X-Health-Check: easegress

        # response validation criteria (default: 101 Switching Protocols)
        match:
          # acceptable status code ranges 
          statusCodes:
          - [101, 101] # 101
          # response header validation
          # name is header key.
          # value is header value, can be empty. 
          # type is type of value, can be "exact" or "regexp".
          headers:
          - name: X-Status
            value: healthy
            type: exact
      http:
        uri: /health
`;
