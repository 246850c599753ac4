// Radio group "Resolution": 1K/2K/4K with the output size; a tier the chosen ratio lacks is disabled
// with the reason, and the tier the targets' size suggests is marked.
import { RadioButtons } from '@create-figma-plugin/ui';
import type { Capabilities } from '../../core/api';
import { type AspectRatio, TIERS, type Tier, unsupportedReason } from '../../core/formats';
import type { Target } from '../../core/messages';
import { outputSize, planCost, planJobs, type RatioChoice } from '../plan';
import { radioName } from './radio-name';

export function ResolutionPicker(props: {
  value: Tier;
  ratioChoice: RatioChoice;
  targets: readonly Target[];
  suggested: Tier | undefined;
  capabilities: Capabilities | undefined;
  onChange: (tier: Tier) => void;
}) {
  const tiers = props.capabilities ? TIERS.filter((t) => props.capabilities?.tiers.includes(t)) : [...TIERS];
  const options = tiers.map((tier) => {
    // A fixed ratio can make a tier impossible; "From frame" only caps targets, noted beside them.
    const reason =
      props.ratioChoice === 'from-frame' ? undefined : unsupportedReason(props.ratioChoice as AspectRatio, tier);
    const jobs = reason ? [] : planJobs(props.targets, props.ratioChoice, tier);
    const sizes = [
      ...new Set(
        jobs
          .map((job) => outputSize(props.capabilities, job.ratio, job.tier))
          .filter((size): size is string => size !== undefined),
      ),
    ];
    // What the whole batch would cost at this tier, each target at the tier its ratio really has.
    const cost = planCost(jobs);
    return {
      value: tier,
      disabled: reason !== undefined,
      children: (
        <span class="ff-option">
          <span class="ff-option-name">{tier}</span>
          {sizes.length > 0 && <span class="ff-muted"> {sizes.join(', ')}</span>}
          {!reason && <span class="ff-muted"> · {cost} credits</span>}
          {props.suggested === tier && <span class="ff-badge"> suggested</span>}
          {reason && <span class="ff-muted"> — {reason}</span>}
        </span>
      ),
    };
  });
  return (
    <fieldset class="ff-fieldset">
      <legend class="ff-label" id="ff-resolution-label">
        Resolution
      </legend>
      <div role="radiogroup" aria-labelledby="ff-resolution-label" class="ff-radios">
        <RadioButtons
          {...radioName('ff-resolution')}
          options={options}
          value={props.value}
          onValueChange={(value) => props.onChange(value as Tier)}
        />
      </div>
    </fieldset>
  );
}
