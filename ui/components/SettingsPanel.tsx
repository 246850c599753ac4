// Settings, kept by the main thread in clientStorage: proxy URL and token, default quality and output
// format, reference size and density. Edits apply when a field is left, so a half-typed URL is never used.
import { Button, Disclosure, Textbox } from '@create-figma-plugin/ui';
import { useEffect, useState } from 'preact/hooks';
import { OUTPUT_FORMATS, QUALITIES } from '../../core/formats';
import { DEFAULT_REFERENCE_MAX_EDGE, MAX_REFERENCE_MAX_EDGE, MIN_REFERENCE_MAX_EDGE } from '../../core/limits';
import { type Settings, SettingsSchema } from '../../core/messages';
import { manifestBlocks, normalizeProxyUrl, proxyUrlProblem } from '../proxy-url';

/** Each setting's problem in words: the schema's own field names mean nothing to a designer. */
const FIELD_PROBLEMS: Record<string, string> = {
  proxyUrl: 'the proxy URL must look like http://localhost:8787.',
  token: 'the token is too long: paste only the token itself.',
  referenceMaxEdge: `the reference max edge must be a whole number of pixels from ${MIN_REFERENCE_MAX_EDGE} to ${MAX_REFERENCE_MAX_EDGE} (${DEFAULT_REFERENCE_MAX_EDGE} is the default).`,
  density: 'the density must be a number from 0.5 to 4 (2 is the default).',
};

type Draft = Record<'proxyUrl' | 'token' | 'referenceMaxEdge' | 'density', string> &
  Pick<Settings, 'quality' | 'outputFormat'>;

function draftOf(settings: Settings): Draft {
  return {
    proxyUrl: settings.proxyUrl,
    token: settings.token,
    quality: settings.quality,
    outputFormat: settings.outputFormat,
    referenceMaxEdge: String(settings.referenceMaxEdge),
    density: String(settings.density),
  };
}

export function SettingsPanel(props: {
  settings: Settings;
  open: boolean;
  onToggle: () => void;
  onSave: (s: Settings) => void;
  /** The origins the built manifest allows; a proxy URL elsewhere is refused. Unset: not checked. */
  allowedOrigins?: readonly string[] | undefined;
}) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(props.settings));
  const [problem, setProblem] = useState<string>();
  useEffect(() => setDraft(draftOf(props.settings)), [props.settings]);

  const commit = (next: Draft) => {
    const proxyUrl = normalizeProxyUrl(next.proxyUrl);
    const urlProblem = proxyUrlProblem(proxyUrl);
    if (urlProblem) {
      setProblem(`Not saved: ${urlProblem}`);
      return;
    }
    const parsed = SettingsSchema.safeParse({
      ...props.settings,
      proxyUrl,
      token: next.token.trim(),
      quality: next.quality,
      outputFormat: next.outputFormat,
      referenceMaxEdge: Number(next.referenceMaxEdge),
      density: Number(next.density),
    });
    if (!parsed.success) {
      const field = String(parsed.error.issues[0]?.path[0] ?? '');
      setProblem(`Not saved: ${FIELD_PROBLEMS[field] ?? 'a setting is not valid.'}`);
      return;
    }
    const blocked = props.allowedOrigins && manifestBlocks(parsed.data.proxyUrl, props.allowedOrigins);
    if (blocked) {
      setProblem(blocked);
      return;
    }
    // Shown normalised, so the field says what is used.
    if (proxyUrl !== next.proxyUrl) setDraft({ ...next, proxyUrl });
    setProblem(undefined);
    if (JSON.stringify(parsed.data) !== JSON.stringify(props.settings)) props.onSave(parsed.data);
  };
  const field = (key: keyof Draft) => ({
    value: draft[key],
    onValueInput: (value: string) => setDraft({ ...draft, [key]: value }),
    onBlur: () => commit(draft),
    onKeyDown: (event: KeyboardEvent) => event.key === 'Enter' && commit(draft),
  });
  const choose = (key: 'quality' | 'outputFormat', value: string) => {
    const next = { ...draft, [key]: value } as Draft;
    setDraft(next);
    commit(next);
  };

  return (
    <Disclosure open={props.open} title="Settings" onClick={props.onToggle}>
      <div class="ff-settings">
        <label class="ff-label" for="ff-proxy-url">
          Proxy URL
        </label>
        <Textbox id="ff-proxy-url" variant="border" spellCheck={false} {...field('proxyUrl')} />
        <label class="ff-label" for="ff-token">
          Token
        </label>
        <Textbox
          id="ff-token"
          variant="border"
          password
          placeholder="Local: the token npm start printed"
          {...field('token')}
        />
        <label class="ff-label" for="ff-quality">
          Quality
        </label>
        <select
          id="ff-quality"
          class="ff-select"
          value={draft.quality}
          onChange={(e) => choose('quality', e.currentTarget.value)}
        >
          {QUALITIES.map((q) => (
            <option key={q} value={q}>
              {q}
            </option>
          ))}
        </select>
        <label class="ff-label" for="ff-format">
          Output format
        </label>
        <select
          id="ff-format"
          class="ff-select"
          value={draft.outputFormat}
          onChange={(e) => choose('outputFormat', e.currentTarget.value)}
        >
          {OUTPUT_FORMATS.map((f) => (
            <option key={f} value={f}>
              {f.toUpperCase()}
            </option>
          ))}
        </select>
        <label class="ff-label" for="ff-max-edge">
          Reference max edge (px)
        </label>
        <Textbox id="ff-max-edge" variant="border" {...field('referenceMaxEdge')} />
        <label class="ff-label" for="ff-density">
          Density (image px per frame px)
        </label>
        <Textbox id="ff-density" variant="border" {...field('density')} />
        {problem && (
          <p role="alert" class="ff-alert">
            {problem}
          </p>
        )}
        <Button secondary onClick={() => commit(draft)}>
          Save settings
        </Button>
      </div>
    </Disclosure>
  );
}
