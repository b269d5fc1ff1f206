// Preload (--import) for crash tests: the process dies (exit 137, as after kill -9) at the rename that would give a
// file a name ending in $CRASH_AT_RENAME, i.e. just before that file takes its final name.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';

const suffix = process.env.CRASH_AT_RENAME;
if (suffix) {
  const die = (to) => {
    if (String(to).endsWith(suffix)) process.exit(137);
  };
  const renameSync = fs.renameSync;
  fs.renameSync = (from, to) => (die(to), renameSync(from, to));
  const rename = fsp.rename;
  fsp.rename = (from, to) => (die(to), rename(from, to));
  syncBuiltinESMExports();
}
