// The sandbox worker's bundle, inlined by build.mjs as text so the page can start it from a Blob URL.
declare module 'playground:sandbox-worker' {
  const source: string;
  export default source;
}
// Figma's theme variables as text (build.mjs loads this CSS file as a string for the playground).
declare module '@create-figma-plugin/ui/css/theme.css' {
  const css: string;
  export default css;
}
