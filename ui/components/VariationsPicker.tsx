// "Variations": how many images each target gets (OpenAI's `n`), each at the full price; the first is placed and
// the others wait in the job's strip to be swapped in.
import { MAX_VARIATIONS } from '../../core/limits';
import { Segmented } from './Segmented';

export function VariationsPicker(props: { value: number; onChange: (value: number) => void }) {
  const options = Array.from({ length: MAX_VARIATIONS }, (_, i) => ({ value: String(i + 1), children: String(i + 1) }));
  return (
    <Segmented
      id="ff-variations"
      label="Variations"
      options={options}
      value={String(props.value)}
      onChange={(value) => props.onChange(Number(value))}
      description={variationsDescription(props.value)}
    />
  );
}

/** What more than one variation means, said where it is chosen; nothing for the usual single image. */
export function variationsDescription(count: number): string | undefined {
  if (count <= 1) return undefined;
  return `${count} images per frame, each at the full price: the first is placed, the others wait under its job to be swapped in.`;
}
