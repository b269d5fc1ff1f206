/** Codes the `mynagate` command itself prints; the packages' own codes pass through unchanged. */
export const CLI_ERROR_CODES = Object.freeze({
  ERR_CLI_USAGE: 'The command line is wrong (unknown command, missing or malformed option); exit status 2.',
  ERR_CLI_CONFIG:
    "The `serve --config` file, or a file it names (keys, secrets, clients, trust anchors, CRLs), or a `serve --dev --client` file, is missing, malformed or inconsistent: an http issuer off the loopback host, no revocation source, a client the provider would refuse (`clients[0] (id): reason`: its metadata, a private key in its jwks, a redirect origin an eKYC statement cannot name, unless it is a private-use scheme or loopback IP redirect of a native app, which gets card login only; a native app's `localhost` redirect is refused, RFC 8252 §8.3).",
  ERR_CLI_NODE_VERSION: 'The command was started with a Node.js older than 24; run it through npx or npm scripts.',
  ERR_CLI_UNREACHABLE: 'The companion could not reach the login server named in the link.',
  ERR_CLI_HTTP: 'The login server answered with an HTTP error that carried no MynaGate code.',
  ERR_CLI_COMPANION_RESPONSE:
    'The login server answered without a field the companion needs (a login link without intent `login`, a bridge login without its hand-over code), or with more than the companion reads (256 KiB).',
  ERR_CLI_COMPANION_ORIGIN: "The login server named an origin other than the link's own; nothing was signed.",
  ERR_BRIDGE_HOST: 'The bridge refused a request whose Host is not 127.0.0.1:<port> (DNS rebinding); HTTP 403.',
  ERR_BRIDGE_CSRF: "The bridge refused a form without this login's token or posted from another origin; HTTP 403.",
  ERR_BRIDGE_ORIGIN:
    "The bridge refused a hand-over whose return page or reported origin is not the link's own origin.",
  ERR_BRIDGE_PROVIDER:
    'The bridge refused a hand-over to a login server it was not started for (`--provider ORIGIN`; without it, only a server on this computer); nothing was fetched (HTTP 403).',
  ERR_BRIDGE_REQUEST:
    'The bridge got a malformed hand-over (missing or bad link, or a return that is not the login page `/interaction/<id>?resume`) or form, or a hand-over the browser did not open as a page (HTTP 403).',
  ERR_BRIDGE_OTHER_NETWORK:
    'The bridge refused a signing link whose signing page the provider saw opened on another network than the bridge (a relayed signing QR: its result would go to that browser, not this one); nothing was shown or signed (HTTP 403).',
  ERR_BRIDGE_NOT_FOUND:
    'The bridge has no such page or login (the form expired after 5 minutes, was used, or took its two wrong PINs).',
  ERR_BRIDGE_LAST_TRY:
    'The card has one PIN (or password) try left: the bridge does not spend it (HTTP 409); type it in the phone app or the official JPKI software, or check the PIN letter.',
  ERR_CLI_LAST_TRY:
    '`login` or `card sign`: the card has one PIN (or signing password) try left, and it was not spent: it is spent only after a "y" typed at the terminal, never from `--pin-stdin`; no PIN or password was sent to the card (only a read of the tries left). Check the PIN, then run the command on a terminal.',
  ERR_CLI_FILE:
    'A file or folder the command was given cannot be opened (missing, not permitted, a folder for a file); the message names it. Network failures have their own codes (`ERR_CLI_LISTEN`, `ERR_CLI_CONNECT`).',
  ERR_CLI_LISTEN:
    'A server the command starts (`serve`, `ca ocsp`, `bridge`) cannot listen: the port is in use, below 1024 without the right to it, or the host is unknown or not an address of this computer; the message names host:port and the reason.',
  ERR_CLI_CONNECT:
    'A connection the command opened failed: nothing listens there, the host name is unknown, or the connection was reset or timed out (`card attach`: vpcd took no connection within `--wait` seconds); the message names where to and why.',
  ERR_CLI_PIN_FILE:
    "`card issue --pin-file`: the file gives group or others some access (mode bits 077) and was not read; make it its owner's alone (chmod 600).",
  ERR_INTERNAL: 'An unexpected failure; rerun with MYNAGATE_DEBUG=1 for the stack trace and report it.',
});
