// The proxy's command line: no arguments starts the server; `token create|list|revoke|credit` manage the
// tokens and credits in the store (the data dir's SQLite, or DATABASE_URL's PostgreSQL), `token local|rotate-local`
// the local mode's token (DESIGN.md §7).
import { mkdirSync } from 'node:fs';
import { type Config, loadConfig } from './config';
import { Ledger, LOCAL_ACCOUNT_CREDITS } from './ledger';
import { loadLocalToken, rotateLocalToken } from './local-token';
import { startProxy } from './start';
import { openStore } from './store';
import { describeUrl } from './store/postgres';

const USAGE = `Usage:
  node build/proxy.mjs                                   start the proxy
  node build/proxy.mjs token create --name NAME --credits N   create a token (printed once, on the last line)
  node build/proxy.mjs token list                        list tokens with their balances
  node build/proxy.mjs token revoke <name|id>            revoke a token
  node build/proxy.mjs token credit <name|id> <credits>  add credits to a token
  node build/proxy.mjs token local                       print the local mode's token (on the last line)
  node build/proxy.mjs token rotate-local                make a new local token (restart the proxy to use it)
(also: npm run proxy -- <command>)`;

/**
 * Credits on the command line: decimal digits only (no `1e3`, no empty string), at most 2^31 per grant, so a
 * balance always stays a safe integer. A new token may start at 0; a grant adds at least 1.
 */
const MAX_CREDITS = 2 ** 31;
function creditsOf(text: string | undefined, what: string, min: 0 | 1): number {
  if (text === undefined || !/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > MAX_CREDITS) {
    throw new Error(
      `${what} must be a whole number from ${min} to ${MAX_CREDITS}, written in digits (got "${text ?? ''}").`,
    );
  }
  return Number(text);
}

async function main(args: string[]): Promise<number> {
  const config = loadConfig();
  if (args.length === 0) return serve(config);
  if (args[0] === 'token') return token(args.slice(1), config);
  if (args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    console.log(USAGE);
    return 0;
  }
  console.error(`Unknown command "${args.join(' ')}".\n${USAGE}`);
  return 2;
}

async function serve(config: ReturnType<typeof loadConfig>): Promise<number> {
  // Handlers first: a supervisor may signal as soon as it sees the start-up lines.
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      console.log(
        `${signal} again: stopping now; unfinished jobs get their credits back at the next start (or, with ` +
          'DATABASE_URL, once their lease lapses on another replica).',
      );
      process.exit(1);
    }
    stopping = true;
    if (!proxy) process.exit(0);
    console.log(
      `${signal}: no new jobs; finishing running ones and keeping their images until the panel fetches them ` +
        `(up to ${config.shutdownGraceMs / 1000} s). Press Ctrl+C again to stop now.`,
    );
    void proxy.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  proxy = await startProxy(config);
  const localUrl = `http://localhost:${proxy.port}`;
  const lines = [
    `Framefill proxy listening on ${localUrl} (${proxy.hosts.join(', ')})`,
    `  url:       ${proxy.url}`,
    `  provider:  ${proxy.provider.name === 'draft' ? 'draft (offline placeholders, no model; set OPENAI_API_KEY for OpenAI)' : `${proxy.provider.name} (${proxy.provider.model})`}`,
    `  mode:      ${
      proxy.mode === 'local'
        ? `local (this machine only; credits recorded against the "local" account, ${LOCAL_ACCOUNT_CREDITS.toLocaleString('en-US')} credits)`
        : 'tokens (every /v1 request needs Authorization: Bearer <token>)'
    }`,
    `  data dir:  ${config.dataDir}`,
    `  store:     ${proxy.db.engine === 'postgres' ? `PostgreSQL (${describeUrl(config.databaseUrl ?? '')}), shared by every replica` : `SQLite in the data dir`}`,
  ];
  if (proxy.provider.notice) lines.push(`  note:      ${proxy.provider.notice}`);
  if (proxy.mode === 'local') {
    lines.push(`  playground: ${localUrl}/playground`);
    lines.push(`  token:     ${proxy.localToken}`);
    lines.push('             ↑ paste this into the plugin: Settings ▸ Token (it stays the same at every start)');
  }
  lines.push('  Figma:     Plugins ▸ Development ▸ Import plugin from manifest… → choose manifest.json in this folder');
  console.log(lines.join('\n'));
  return new Promise<number>(() => undefined);
}

async function token(args: string[], config: Config): Promise<number> {
  const { dataDir } = config;
  // The local token is a file of this machine's data dir: no database needed for it.
  if (args[0] === 'local' || args[0] === 'rotate-local') return localTokenCommand(args[0], dataDir);
  const db = await openStore(config);
  const ledger = new Ledger(db);
  try {
    const [command, ...rest] = args;
    switch (command) {
      case 'create': {
        const name = option(rest, '--name');
        if (!name) throw new Error('token create needs --name NAME (and --credits N).');
        // No --credits: a token at 0, credited later; a --credits with no amount is refused like a bad one.
        const credits = creditsOf(hasOption(rest, '--credits') ? option(rest, '--credits') : '0', '--credits', 0);
        const { token, account } = await ledger.createToken(name, credits);
        console.log(`Created token "${account.name}" with ${account.balance} credits. It is shown only once:`);
        console.log(token);
        return 0;
      }
      case 'list': {
        const accounts = await ledger.list();
        if (accounts.length === 0) console.log('No tokens: the proxy runs in local mode on loopback.');
        for (const a of accounts) {
          console.log(
            `${a.name}\t${a.id}\tbalance ${a.balance}\tspent ${a.spent}\t${a.revokedAt ? `revoked ${a.revokedAt}` : 'active'}`,
          );
        }
        return 0;
      }
      case 'revoke': {
        const target = rest[0];
        if (!target) throw new Error('token revoke needs a token name or id.');
        const account = await ledger.revoke(target);
        console.log(`Revoked token "${account.name}".`);
        return 0;
      }
      case 'credit': {
        const [target, amount] = rest;
        if (!target || amount === undefined)
          throw new Error('token credit needs a token name and a number of credits.');
        const account = await ledger.credit(target, creditsOf(amount, 'The number of credits', 1));
        console.log(`Token "${account.name}" now has ${account.balance} credits.`);
        return 0;
      }
      default:
        console.error(USAGE);
        return 2;
    }
  } finally {
    await db.close();
  }
}

function localTokenCommand(command: 'local' | 'rotate-local', dataDir: string): number {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (command === 'local') {
    console.log('The local token (Settings ▸ Token in the plugin):');
    console.log(loadLocalToken(dataDir));
    return 0;
  }
  const token = rotateLocalToken(dataDir);
  console.log('A new local token; restart the proxy, then paste it into Settings ▸ Token:');
  console.log(token);
  return 0;
}

function hasOption(args: string[], name: string): boolean {
  return args.some((a) => a === name || a.startsWith(`${name}=`));
}

function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  if (index >= 0) return args[index + 1];
  return args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`framefill proxy: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
