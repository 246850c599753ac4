// Local mode's one secret (DESIGN.md §7): any sandboxed iframe or saved HTML file sends `Origin: null`, as the Figma
// plugin does, so the origin cannot tell the plugin from a stranger's page; a random token kept in the data dir
// (mode 0600) can. Created at the first start, printed at every start, replaced by `token rotate-local`.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const LOCAL_TOKEN_FILE = 'local-token';
const LOCAL_TOKEN = /^ffl_[A-Za-z0-9_-]{43}$/;

export function localTokenPath(dataDir: string): string {
  return path.join(dataDir, LOCAL_TOKEN_FILE);
}

/** The data dir's local token, created on first use. */
export function loadLocalToken(dataDir: string): string {
  const file = localTokenPath(dataDir);
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (LOCAL_TOKEN.test(token)) {
      chmodSync(file, 0o600);
      return token;
    }
  }
  return rotateLocalToken(dataDir);
}

/** A new local token; the old one stops working at the proxy's next start. */
export function rotateLocalToken(dataDir: string): string {
  const token = `ffl_${randomBytes(32).toString('base64url')}`;
  writeFileSync(localTokenPath(dataDir), `${token}\n`, { mode: 0o600 });
  chmodSync(localTokenPath(dataDir), 0o600);
  return token;
}
