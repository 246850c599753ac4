// Types of what build.mjs exports for the tests.
export function proxyOriginFrom(value: string | undefined): string;
export const DEVELOPMENT_PLUGIN_ID: string;
export function pluginIdFrom(env: string | undefined, packageJson: unknown): string;
export function allowedOrigins(proxyOrigin?: string): string[];
export function manifest(
  proxyOrigin?: string,
  id?: string,
): {
  name: string;
  id: string;
  api: string;
  main: string;
  ui: string;
  editorType: string[];
  documentAccess: string;
  networkAccess: { allowedDomains: string[]; devAllowedDomains: string[]; reasoning: string };
  relaunchButtons: { command: string; name: string }[];
};
