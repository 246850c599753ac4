// The image models the proxy may be started with (OPENAI_IMAGE_MODEL), one entry per family, and the ones OpenAI
// has shut down. Framefill's sizes (formats.ts) are GPT Image 2's: a later model that takes them is one more entry.

export interface ModelFamily {
  /** The alias, e.g. `gpt-image-2`; its dated snapshots are `<alias>-YYYY-MM-DD`. */
  alias: string;
  /** Where OpenAI documents it. */
  page: string;
}

/**
 * Families whose size rule is the one core/formats.ts is built on (edges multiples of 16, up to 3840, ratio ≤ 3:1):
 * https://developers.openai.com/api/docs/models/gpt-image-2 — the snapshot `gpt-image-2-2026-04-21` is listed there.
 */
export const SUPPORTED_MODEL_FAMILIES: readonly ModelFamily[] = [
  { alias: 'gpt-image-2', page: 'https://developers.openai.com/api/docs/models/gpt-image-2' },
];

/**
 * GPT image models OpenAI has shut down, with the date (https://developers.openai.com/api/docs/deprecations); their
 * dated snapshots (e.g. gpt-image-1.5-2025-12-16) went with them. They took only 1024², 1536×1024, 1024×1536 and
 * `auto`, not Framefill's sizes.
 */
export const RETIRED_MODELS: Readonly<Record<string, string>> = {
  'gpt-image-1': '2026-10-23',
  'gpt-image-1.5': '2026-12-01',
  'gpt-image-1-mini': '2026-12-01',
  'chatgpt-image-latest': '2026-12-01',
};

const SNAPSHOT = /^(.+)-(\d{4})-(\d{2})-(\d{2})$/;

/** A model id without its snapshot date. */
function aliasOf(model: string): string {
  return SNAPSHOT.exec(model)?.[1] ?? model;
}

/** The family a model id belongs to: its alias, or a dated snapshot of it. */
export function modelFamilyOf(model: string): ModelFamily | undefined {
  return SUPPORTED_MODEL_FAMILIES.find((family) => family.alias === aliasOf(model));
}

/** Why the proxy cannot run this model, in the operator's words; `undefined` when it can. */
export function unsupportedModelReason(model: string): string | undefined {
  if (modelFamilyOf(model)) return undefined;
  const supported = SUPPORTED_MODEL_FAMILIES.map(
    (f) => `${f.alias} (or a dated snapshot such as ${f.alias}-2026-04-21)`,
  );
  const retired = Object.entries(RETIRED_MODELS)
    .map(([name, date]) => `${name} (shut down ${date})`)
    .join(', ');
  const shutDown = RETIRED_MODELS[aliasOf(model)];
  const what = shutDown
    ? `${model} was shut down by OpenAI on ${shutDown}`
    : `${model} is not a model Framefill's sizes were made for`;
  return (
    `OPENAI_IMAGE_MODEL=${model}: ${what}. Framefill's sizes (up to 3840 px, any 16-px grid) are GPT Image 2's; ` +
    `use ${supported.join(' or ')}. Retired: ${retired}.`
  );
}
