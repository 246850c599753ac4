// The proxy URL as the designer types it, made into the base the client appends `/v1/…` to, and explained
// in words when it cannot be one.

/**
 * Trims, then drops a trailing `/` and a trailing `/v1`: people paste the API's base from the README or a
 * browser, and `http://localhost:8787/v1` + `/v1/generations` would be a route that does not exist.
 */
export function normalizeProxyUrl(raw: string): string {
  let url = raw.trim();
  for (;;) {
    const next = url.replace(/\/+$/, '').replace(/\/v1$/i, '');
    if (next === url) return url;
    url = next;
  }
}

/** Why a (normalised) proxy URL cannot be used, in the designer's words; `undefined` when it can. */
export function proxyUrlProblem(url: string): string | undefined {
  if (url === '') return 'Enter the proxy URL, for example http://localhost:8787.';
  if (/\s/.test(url)) return 'The proxy URL cannot contain spaces.';
  if (!/^https?:\/\//i.test(url)) {
    return 'The proxy URL must start with http:// or https://, for example http://localhost:8787.';
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a web address: use the form http://localhost:8787.`;
  }
  if (parsed.search || parsed.hash) return 'The proxy URL cannot have a ? or # part: use only its address.';
  return undefined;
}

/** A proxy on this machine: local mode, whose token `npm start` prints. */
export function isLocalProxy(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || host === '::1';
  } catch {
    return false;
  }
}

// Which proxy URLs this build of the panel can reach. Figma lets the plugin iframe call only the origins in
// the manifest's networkAccess and blocks the rest with a CSP error
// (https://developers.figma.com/docs/plugins/making-network-requests/), which the panel could only report
// as "cannot reach": so Settings refuses such a URL up front and says how to build for it.

function originOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`.toLowerCase();
  } catch {
    return undefined;
  }
}

/** A sentence when the built manifest does not allow `proxyUrl`; undefined when it does. */
export function manifestBlocks(proxyUrl: string, allowedOrigins: readonly string[]): string | undefined {
  const origin = originOf(proxyUrl);
  if (!origin) return undefined;
  if (allowedOrigins.some((allowed) => originOf(allowed) === origin)) return undefined;
  const list = allowedOrigins.length > 0 ? allowedOrigins.join(', ') : 'no proxy';
  const build = origin.startsWith('https://')
    ? `build it with FRAMEFILL_PROXY_ORIGIN=${origin} npm run build and import the new manifest.json`
    : 'serve the proxy over https and build for that origin with FRAMEFILL_PROXY_ORIGIN';
  return `Not saved: this build of Framefill may only reach ${list} (its manifest's network access). To use ${origin}, ${build}.`;
}
