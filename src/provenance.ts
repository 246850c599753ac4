// What a placed image remembers about how it was made: JSON in the node's plugin data, within Figma's
// 100 kB per entry (https://developers.figma.com/docs/plugins/api/properties/nodes-setplugindata).
import { PLUGIN_DATA_MAX_BYTES } from '../core/limits';
import { type Provenance, ProvenanceSchema } from '../core/messages';

export const PROVENANCE_KEY = 'framefill';
// Figma counts the plugin id and key in the entry; keep a margin for both.
const BUDGET_BYTES = PLUGIN_DATA_MAX_BYTES - 1_000;

/** UTF-8 length without TextEncoder, which Figma's sandbox does not promise. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * A 20,000-character prompt of 4-byte characters is 80 kB and fits as is. Only a prompt that JSON escaping
 * inflates (control characters become six bytes each) can overflow; its end is then cut, and marked.
 */
export function encodeProvenance(provenance: Provenance): string {
  const encode = (prompt: string, truncated: boolean) =>
    JSON.stringify(truncated ? { ...provenance, prompt, promptTruncated: true } : { ...provenance, prompt });
  const full = encode(provenance.prompt, false);
  if (utf8Length(full) <= BUDGET_BYTES) return full;
  const chars = Array.from(provenance.prompt);
  let low = 0;
  let high = chars.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (utf8Length(encode(chars.slice(0, mid).join(''), true)) <= BUDGET_BYTES) low = mid;
    else high = mid - 1;
  }
  return encode(chars.slice(0, low).join(''), true);
}

export function decodeProvenance(text: string): Provenance | undefined {
  if (!text) return undefined;
  try {
    const parsed = ProvenanceSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
