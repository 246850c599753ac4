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
