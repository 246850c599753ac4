// Radio group "Aspect ratio": From frame (each target keeps its own ratio), Auto, or one fixed ratio.
import { RadioButtons } from '@create-figma-plugin/ui';
import type { AspectRatio } from '../../core/formats';
import type { Target } from '../../core/messages';
import { type RatioChoice, targetLine } from '../plan';
import { radioName } from './radio-name';

const LABELS: Record<AspectRatio, string> = {
  auto: 'Auto',
  '1:1': '1:1',
  '9:16': '9:16',
  '16:9': '16:9',
  '4:3': '4:3',
  '3:4': '3:4',
};

export function RatioPicker(props: {
  value: RatioChoice;
  ratios: readonly AspectRatio[];
  targets: readonly Target[];
  onChange: (value: RatioChoice) => void;
}) {
  const options = [
    { value: 'from-frame', children: 'From frame' },
    ...props.ratios.map((ratio) => ({ value: ratio, children: LABELS[ratio] })),
  ];
  return (
    <fieldset class="ff-fieldset">
      <legend class="ff-label" id="ff-ratio-label">
        Aspect ratio
      </legend>
      <div role="radiogroup" aria-labelledby="ff-ratio-label" class="ff-radios ff-radios-inline">
        <RadioButtons
          {...radioName('ff-aspect-ratio')}
          options={options}
          value={props.value}
          onValueChange={(value) => props.onChange(value as RatioChoice)}
        />
      </div>
      {props.value === 'from-frame' && (
        <ul class="ff-hint-list" aria-label="Ratio per target">
          {props.targets.length === 0 ? (
            <li>No frame selected: a new 1:1 frame is made.</li>
          ) : (
            props.targets.map((target) => <li key={target.id}>{targetLine(target)}</li>)
          )}
        </ul>
      )}
    </fieldset>
  );
}
