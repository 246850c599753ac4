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
export function proxyUrlProblem(proxyUrl: string, allowedOrigins: readonly string[]): string | undefined {
  const origin = originOf(proxyUrl);
  if (!origin) return undefined;
  if (allowedOrigins.some((allowed) => originOf(allowed) === origin)) return undefined;
  const list = allowedOrigins.length > 0 ? allowedOrigins.join(', ') : 'no proxy';
  const build = origin.startsWith('https://')
    ? `build it with FRAMEFILL_PROXY_ORIGIN=${origin} npm run build and import the new manifest.json`
    : 'serve the proxy over https and build for that origin with FRAMEFILL_PROXY_ORIGIN';
  return `Not saved: this build of Framefill may only reach ${list} (its manifest's network access). To use ${origin}, ${build}.`;
}
