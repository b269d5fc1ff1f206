/** The system Chromium the browser tests drive through playwright-core (its own browser download is not used). */
import { existsSync } from 'node:fs';

/** Where the system Chromium lives. */
export const CHROMIUM = '/usr/bin/chromium';

/** The skip reason when Chromium is absent (false when present, or when MYNAGATE_REQUIRE_SYSTEM=1 makes it fail). */
export const skipBrowser: string | false =
  !existsSync(CHROMIUM) && process.env['MYNAGATE_REQUIRE_SYSTEM'] !== '1'
    ? `Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`
    : false;

/** Chromium's launch options for tests. */
export const CHROMIUM_LAUNCH = {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};
