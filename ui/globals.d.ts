/** Written by build.mjs: the deployed proxy origin, or http://localhost:8787 in development. */
declare const __FRAMEFILL_DEFAULT_PROXY_URL__: string;
/** Written by build.mjs: the origins the built manifest's networkAccess allows. */
declare const __FRAMEFILL_ALLOWED_ORIGINS__: readonly string[];
declare module '*.css';
