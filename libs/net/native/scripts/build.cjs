'use strict';
/**
 * Builds the addon with node-gyp when npm installs this package.
 *
 * node-gyp needs Node's headers. It downloads them unless told where they are,
 * and these machines reach no network but the npm registry, so: use the
 * nodedir npm was given (npm_config_nodedir), else the headers installed next
 * to the running node (Debian's nodejs puts them in /usr/include/node), and
 * only when neither exists let node-gyp find them its own way.
 */
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

if (process.platform !== 'linux') {
  console.warn('@keepquorum/net-native: not Linux, addon not built (keepquorum needs Linux raw and packet sockets)');
  process.exit(0);
}

const packageDir = join(__dirname, '..');

function headersAt(dir) {
  return Boolean(dir) && existsSync(join(dir, 'include', 'node', 'node_api.h'));
}

function chooseNodedir() {
  const configured = process.env.npm_config_nodedir;
  if (headersAt(configured)) return configured;
  const besideNode = dirname(dirname(process.execPath));
  if (headersAt(besideNode)) return besideNode;
  return undefined;
}

function nodeGypCommand() {
  // npm tells its lifecycle scripts where its bundled node-gyp is.
  const bundled = process.env.npm_config_node_gyp;
  if (bundled && existsSync(bundled)) return [process.execPath, [bundled]];
  const besideNpm = join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(besideNpm)) return [process.execPath, [besideNpm]];
  return ['node-gyp', []];
}

const nodedir = chooseNodedir();
const [cmd, prefix] = nodeGypCommand();
const args = [...prefix, 'rebuild'];
if (nodedir) args.push(`--nodedir=${nodedir}`);
const result = spawnSync(cmd, args, { cwd: packageDir, stdio: 'inherit', env: process.env });
if (result.error) {
  console.error(`@keepquorum/net-native: cannot run node-gyp (${result.error.message}); install a C compiler, make and python3, then run npm install again`);
  process.exit(1);
}
process.exit(result.status ?? 1);
