/**
 * Node flags for the waypoint process (whoever starts `ambit waypoint run` passes them, as the local
 * cluster's node agent does with the ztunnel's). The request path makes many short-lived objects, so the
 * ztunnel's 1 MiB young generation costs it CPU; Node's default costs memory. Single runs of
 * bench/waypoint-http.ts (`--waypoint-node-args`), CPU ms per 1000 requests and RSS after load: 1 MiB
 * 162 ms / 156 MiB, 4 MiB 126 ms / 172 MiB, Node's default 115 ms / 260 MiB. Later, with the old and the
 * new flag loaded at once on the same code (bench/ingress-http.ts `--baseline-ref HEAD
 * --baseline-node-args`), 8 and 16 MiB cost 0.95x and 0.94x of 4 MiB's CPU, no more than the same code
 * against itself (0.93x): 4 MiB stays, for its smaller RSS.
 */
export const WAYPOINT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
