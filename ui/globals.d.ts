/** Written by build.mjs: the deployed proxy origin, or http://localhost:8787 in development. */
declare const __FRAMEFILL_DEFAULT_PROXY_URL__: string;
declare module '*.css';
