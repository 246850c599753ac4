// The sandbox worker's bundle, inlined by build.mjs as text so the page can start it from a Blob URL.
declare module 'playground:sandbox-worker' {
  const source: string;
  export default source;
}
