/**
 * The Node.js flags the provider runs with (`npm start`, and the OP benchmark's provider process): one place, which
 * a test keeps equal to the `start` script in package.json.
 *
 * `--max-semi-space-size=16` (MiB): Node 24 sizes V8's young generation from the machine's memory (here about 45
 * MiB). A provider keeps request state and keep-alive connections alive across collections, so each scavenge then
 * copied megabytes and paused the event loop for 15-45 ms, which every login in flight waited for. With 16 MiB,
 * scavenges come more often and pause for 2-7 ms, at the same CPU per login.
 */
export const SERVER_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=16']);
