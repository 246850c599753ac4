// Types of what build.mjs exports for the tests.
export function proxyOriginFrom(value: string | undefined): string;
export function manifest(proxyOrigin?: string): {
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
