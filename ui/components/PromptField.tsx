// The prompt: a large textarea labelled "Prompt" and its live `N / 20,000` counter (code points).
import { TextboxMultiline } from '@create-figma-plugin/ui';
import { countPromptChars, PROMPT_MAX_CHARS } from '../../core/limits';

export function PromptField({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const count = countPromptChars(value);
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
        rows={5}
        grow
        spellCheck
        placeholder="Describe the image. Selected references are used in tray order."
        value={value}
        onValueInput={onChange}
        variant="border"
      />
    </div>
  );
}
