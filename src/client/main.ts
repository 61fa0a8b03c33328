#!/usr/bin/env node
/**
 * The downloadable client CLI (`GET /downloads/codehub-build`): bundled into one file that runs with node 20
 * or later and nothing beside it. It holds only src/client (scripts/build-client.mjs refuses anything else).
 */
import { CLIENT_USAGE, clientCommand } from './commands.js';
import { UsageError } from './errors.js';
import { runMain } from './run.js';
import { version } from './version.js';

const SERVER_COMMANDS = ['serve', 'migrate', 'backup', 'user', 'token', 'gc'];

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(`usage: codehub-build <command>\n\n${CLIENT_USAGE}`);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === 'version' || cmd === '--version') {
    console.log(`codehub-build ${version()} (client)`);
    return 0;
  }
  const run = clientCommand(cmd);
  if (run) return run(rest);
  if (SERVER_COMMANDS.includes(cmd))
    throw new UsageError(
      `${cmd} is a server command: run it where the server runs (\`npx codehub-build ${cmd}\` in its checkout, or in its container); an admin can also use the admin API (/api/users)`,
    );
  throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
}

runMain(() => main(process.argv.slice(2)));
