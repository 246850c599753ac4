// A labelled segmented control (Figma UI3's choice of one among a few): create-figma-plugin's
// SegmentedControl inside a `radiogroup` named by its visible label, so the options stay radios by name.
import { SegmentedControl, type SegmentedControlOption } from '@create-figma-plugin/ui';
import { radioName } from './radio-name';

export function Segmented(props: {
  id: string;
  label: string;
  options: SegmentedControlOption[];
  value: string;
  onChange: (value: string) => void;
  /** A short line under the control that says what the choice means; the group is described by it. */
  description?: string | undefined;
}) {
  return (
    <div class="ff-control">
      <span class="ff-label" id={`${props.id}-label`}>
        {props.label}
      </span>
      <div
        role="radiogroup"
        aria-labelledby={`${props.id}-label`}
        aria-describedby={props.description ? `${props.id}-description` : undefined}
        class="ff-segmented"
      >
        <SegmentedControl
          {...radioName(props.id)}
          options={props.options}
          value={props.value}
          onValueChange={props.onChange}
        />
      </div>
      {props.description && (
        <p class="ff-muted ff-control-description" id={`${props.id}-description`}>
          {props.description}
        </p>
      )}
    </div>
  );
}
