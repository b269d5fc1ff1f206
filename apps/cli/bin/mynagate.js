#!/usr/bin/env node
// The `mynagate` command. npm puts the project's pinned Node 24 first on PATH, which runs TypeScript directly.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `ERR_CLI_NODE_VERSION: mynagate needs Node.js 24 or later (found ${process.version}); run it through npx or npm scripts`,
  );
  process.exit(1);
}
await import('../src/main.ts');
