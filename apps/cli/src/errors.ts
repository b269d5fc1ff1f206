/** Codes the `mynagate` command itself prints; the packages' own codes pass through unchanged. */
export const CLI_ERROR_CODES = Object.freeze({
  ERR_CLI_USAGE: 'The command line is wrong (unknown command, missing or malformed option); exit status 2.',
  ERR_CLI_NODE_VERSION: 'The command was started with a Node.js older than 24; run it through npx or npm scripts.',
  ERR_CLI_UNREACHABLE: 'The companion could not reach the login server named in the link.',
  ERR_CLI_HTTP: 'The login server answered with an HTTP error that carried no MynaGate code.',
  ERR_CLI_COMPANION_RESPONSE: 'The login server answered without a field the companion needs.',
  ERR_CLI_COMPANION_ORIGIN: "The login server named an origin other than the link's own; nothing was signed.",
  ERR_INTERNAL: 'An unexpected failure; rerun with MYNAGATE_DEBUG=1 for the stack trace and report it.',
});
