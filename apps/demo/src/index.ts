/**
 * `@mynagate/demo`: a demo service whose sign-up requires the My Number Card, and the development stack that runs it
 * beside MynaGate (`mynagate serve --dev`).
 */
export { openDemoAccounts, type DemoAccount, type DemoAccounts } from './accounts.ts';
export { startDemo, type DemoOptions, type DemoServer } from './demo-server.ts';
export { openDevData, type DevCardInfo, type DevData, type DevDataOptions } from './dev-data.ts';
export { startDevStack, type DevStack, type DevStackOptions } from './dev-stack.ts';
export { DEMO_ERROR_CODES, DemoNotConnectedError, DevDataInvalidError, DevPortInUseError } from './errors.ts';
