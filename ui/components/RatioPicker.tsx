// "Aspect ratio": From frame (each target keeps its own ratio), Auto, or one fixed ratio for every target.
import type { AspectRatio } from '../../core/formats';
import { type RatioChoice, ratioLabel } from '../plan';
import { Segmented } from './Segmented';

export function RatioPicker(props: {
  value: RatioChoice;
  ratios: readonly AspectRatio[];
  onChange: (value: RatioChoice) => void;
}) {
  const options = [
    { value: 'from-frame', children: 'From frame' },
    ...props.ratios.map((ratio) => ({ value: ratio, children: ratioLabel(ratio) })),
  ];
  return (
    <Segmented
      id="ff-aspect-ratio"
      label="Aspect ratio"
      options={options}
      value={props.value}
      onChange={(value) => props.onChange(value as RatioChoice)}
    />
  );
}
