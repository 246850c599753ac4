// The prompt: a textarea labelled "Prompt" and its live `N / 20,000` counter — Unicode code points after
// trimming, the proxy's own count (core/limits.ts), so 👩‍🎨 (three code points joined) counts 3.
import { TextboxMultiline } from '@create-figma-plugin/ui';
import { countPromptChars, PROMPT_MAX_CHARS } from '../../core/limits';

export function PromptField(props: { value: string; onChange: (value: string) => void; onBlur?: () => void }) {
  const count = countPromptChars(props.value);
  const tooLong = count > PROMPT_MAX_CHARS;
  return (
    <div class="ff-field">
      <div class="ff-row">
        <label class="ff-label" for="ff-prompt">
          Prompt
        </label>
        <span id="ff-prompt-count" class={tooLong ? 'ff-count ff-error-text' : 'ff-count'} aria-live="polite">
          {count.toLocaleString('en-US')} / {PROMPT_MAX_CHARS.toLocaleString('en-US')}
        </span>
      </div>
      <TextboxMultiline
        id="ff-prompt"
        aria-describedby="ff-prompt-count"
        aria-invalid={tooLong ? 'true' : undefined}
        rows={3}
        spellCheck
        placeholder="Describe the image. References are used in tray order. ⌘/Ctrl+Enter generates."
        value={props.value}
        onValueInput={props.onChange}
        {...(props.onBlur ? { onBlur: props.onBlur } : {})}
        variant="border"
      />
    </div>
  );
}
