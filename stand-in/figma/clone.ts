// Structured-clone semantics across the sandbox boundary. Figma copies every message and every
// clientStorage value (https://developers.figma.com/docs/plugins/api/properties/figma-ui-postmessage,
// https://developers.figma.com/docs/plugins/api/figma-clientStorage); in tests the plugin runs in a
// node:vm realm, so values entering it must be rebuilt from that realm's own constructors, or
// `instanceof Uint8Array` inside the bundle would fail. The source below is evaluated inside the sandbox.

/** Plain JS (no imports, no helpers) so it can be evaluated as-is in another realm. */
export const SANDBOX_CLONE_SOURCE = `(function sandboxClone(value) {
  var seen = new Map();
  function clone(v) {
    if (v === null || typeof v !== 'object') {
      if (typeof v === 'function' || typeof v === 'symbol') throw new TypeError('could not be cloned: ' + String(v));
      return v;
    }
    if (seen.has(v)) return seen.get(v);
    var tag = Object.prototype.toString.call(v);
    var out;
    if (tag === '[object Uint8Array]') { out = new Uint8Array(v.length); out.set(v); }
    else if (tag === '[object ArrayBuffer]') { out = new ArrayBuffer(v.byteLength); new Uint8Array(out).set(new Uint8Array(v)); }
    else if (tag === '[object Date]') out = new Date(v.getTime());
    else if (Array.isArray(v)) { out = []; seen.set(v, out); for (var i = 0; i < v.length; i++) out[i] = clone(v[i]); return out; }
    else if (tag === '[object Map]') { out = new Map(); seen.set(v, out); v.forEach(function (val, key) { out.set(clone(key), clone(val)); }); return out; }
    else if (tag === '[object Object]') { out = {}; seen.set(v, out); Object.keys(v).forEach(function (k) { out[k] = clone(v[k]); }); return out; }
    else throw new TypeError('could not be cloned: ' + tag);
    seen.set(v, out);
    return out;
  }
  return clone(value);
})`;

export type Clone = (value: unknown) => unknown;

/** The host side: the platform's own structuredClone (Node ≥ 17 and every browser). */
export const hostClone: Clone = (value) => structuredClone(value);
