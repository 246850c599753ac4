// "Resolution" and "Quality" side by side, since together they set the price. A tier no target can have is
// disabled with the reason; the suggested tier is a hint beside the control, never chosen for the designer;
// tiers whose size OpenAI calls experimental say so in OpenAI's word.
import type { Quality, Tier } from '../../core/formats';
import type { TierOption } from '../plan';
import { Segmented } from './Segmented';

const QUALITY_LABELS: Record<Quality, string> = { low: 'Low', medium: 'Medium', high: 'High' };

export function ResolutionPicker(props: {
  tier: Tier;
  tiers: readonly TierOption[];
  suggested: Tier | undefined;
  quality: Quality;
  qualities: readonly Quality[];
  onTierChange: (tier: Tier) => void;
  onQualityChange: (quality: Quality) => void;
}) {
  const suggested = props.tiers.find((t) => t.tier === props.suggested && t.disabledReason === undefined);
  const options = props.tiers.map((option) => ({
    value: option.tier,
    disabled: option.disabledReason !== undefined,
    children: (
      <span>
        {option.tier}
        {isExperimental(option) && <span class="ff-sr">, experimental</span>}
        {suggested?.tier === option.tier && <span class="ff-sr">, suggested</span>}
        {option.disabledReason && <span class="ff-sr"> — {option.disabledReason}</span>}
      </span>
    ),
  }));
  const disabled = props.tiers.filter((t) => t.disabledReason !== undefined);
  const experimental = props.tiers
    .filter(isExperimental)
    .map((t) => (t.experimentalFor === 'all' ? t.tier : `${t.tier} for ${t.experimentalFor.join(', ')}`));
  return (
    <div class="ff-field">
      <div class="ff-controls-row">
        <Segmented
          id="ff-resolution"
          label="Resolution"
          options={options}
          value={props.tier}
          onChange={(value) => props.onTierChange(value as Tier)}
        />
        {props.qualities.length > 1 && (
          <Segmented
            id="ff-quality-choice"
            label="Quality"
            options={props.qualities.map((q) => ({ value: q, children: QUALITY_LABELS[q] }))}
            value={props.quality}
            onChange={(value) => props.onQualityChange(value as Quality)}
          />
        )}
      </div>
      <div class="ff-hints">
        {suggested && (
          <p class="ff-muted">
            Suggested for these frames: <span class="ff-badge">{suggested.tier}</span>
          </p>
        )}
        {experimental.length > 0 && (
          <p class="ff-muted">Experimental at OpenAI (over 2560×1440 pixels): {experimental.join('; ')}.</p>
        )}
        {disabled.map((t) => (
          <p key={t.tier} class="ff-muted">
            {t.tier} is off: {t.disabledReason}
          </p>
        ))}
      </div>
    </div>
  );
}

function isExperimental(option: TierOption): boolean {
  return option.disabledReason === undefined && option.experimentalFor.length > 0;
}
