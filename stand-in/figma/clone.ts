// The copy Figma makes of every message and every clientStorage value, limited to the types it documents.
// Messages: "objects, arrays, numbers, strings, booleans, null, undefined, Date objects and Uint8Array
// objects. However, functions and prototype chains of objects will not be sent"
// (https://developers.figma.com/docs/plugins/api/properties/figma-ui-postmessage). clientStorage: "objects,
// arrays, strings, numbers, booleans, null, undefined and Uint8Array", no Date
// (https://developers.figma.com/docs/plugins/api/figma-clientStorage). Anything else (Map, Set,
// ArrayBuffer, other typed arrays, functions, symbols, bigint, cycles) throws here, so a plugin that relies
// on the browser's fuller structured clone fails in the stand-in first. In tests the plugin runs in another
// realm (node:vm, QuickJS), so the same source is evaluated on each side: values are rebuilt from the
// receiving realm's own constructors and `instanceof Uint8Array` holds there.

/** Plain JS (no imports, no helpers) so it can be evaluated as-is in another realm. */
export const SANDBOX_CLONE_SOURCE = `(function figmaClone(value, forStorage) {
  var path = [];
  function clone(v) {
    var kind = typeof v;
    if (v === null || kind === 'undefined' || kind === 'string' || kind === 'boolean') return v;
    if (kind === 'number') return v;
    if (kind !== 'object') throw new TypeError('Figma cannot copy a ' + kind + ' (only objects, arrays, numbers, strings, booleans, null, undefined, Date and Uint8Array)');
    var tag = Object.prototype.toString.call(v);
    if (tag === '[object Uint8Array]') { var bytes = new Uint8Array(v.length); bytes.set(v); return bytes; }
    if (tag === '[object Date]') {
      if (forStorage) throw new TypeError('Figma cannot copy a Date into clientStorage (only objects, arrays, strings, numbers, booleans, null, undefined and Uint8Array)');
      return new Date(v.getTime());
    }
    if (path.indexOf(v) >= 0) throw new TypeError('Figma cannot copy a value that contains itself');
    path.push(v);
    var out;
    if (Array.isArray(v)) { out = []; for (var j = 0; j < v.length; j++) out.push(clone(v[j])); }
    else if (tag === '[object Object]') { out = {}; Object.keys(v).forEach(function (k) { out[k] = clone(v[k]); }); }
    else throw new TypeError('Figma cannot copy ' + tag + ' (only objects, arrays, numbers, strings, booleans, null, undefined, Date and Uint8Array)');
    path.pop();
    return out;
  }
  return clone(value);
})`;

/** `forStorage`: the clientStorage set of types (no Date) instead of postMessage's. */
export type Clone = (value: unknown, forStorage?: boolean) => unknown;

/** The same copy in the host's realm. */
export const hostClone: Clone = new Function(`return ${SANDBOX_CLONE_SOURCE}`)() as Clone;
