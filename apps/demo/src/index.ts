/**
 * `@mynagate/demo`: a demo bank and shop, two relying parties on `@mynagate/rp` (sign-up with the card, a stepped-up
 * transfer, an age check), and the development stack that runs them beside MynaGate (`mynagate serve --dev`).
 */
export { openDemoAccounts, type DemoAccount, type DemoAccounts } from './accounts.ts';
export {
  startDemo,
  type ClientMetadata,
  type DemoOptions,
  type DemoServer,
  type DemoService,
  type DemoShopOptions,
} from './demo-server.ts';
export {
  needsFreshCardLogin,
  OPENING_BALANCE_YEN,
  openDemoTransfers,
  parseAmount,
  STEP_UP_MAX_AGE_SECONDS,
  STEP_UP_THRESHOLD_YEN,
  type DemoTransfer,
  type DemoTransfers,
} from './transfers.ts';
export { openDevData, type DevCardInfo, type DevData, type DevDataOptions } from './dev-data.ts';
export { startDevStack, type DevStack, type DevStackOptions } from './dev-stack.ts';
export { DEMO_ERROR_CODES, DemoNotConnectedError, DevDataInvalidError, DevPortInUseError } from './errors.ts';
