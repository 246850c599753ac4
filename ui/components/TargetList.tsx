// "Targets": one line per image the batch makes — the frame, and what it gets: ratio, tier, output size,
// crop and cost — so each frame is listed once, with everything that decides its price and look.
import type { Capabilities } from '../../core/api';
import type { Tier } from '../../core/formats';
import type { UnusableNode } from '../../core/messages';
import { outputSize, type PlannedJob, targetLine } from '../plan';

export function TargetList(props: {
  jobs: readonly PlannedJob[];
  chosenTier: Tier;
  summary: string;
  capabilities: Capabilities | undefined;
  /** Selected layers that cannot take an image fill, with Figma's reason. */
  unusable: readonly UnusableNode[];
}) {
  return (
    <section class="ff-section" aria-labelledby="ff-targets-label">
      <div class="ff-row">
        <h3 class="ff-label" id="ff-targets-label">
          Targets
        </h3>
        <span class="ff-muted" data-testid="targets-summary">
          {props.summary}
        </span>
      </div>
      <ul class="ff-targets" aria-label="Images to generate">
        {props.jobs.map((job, index) => {
          const size = outputSize(props.capabilities, job.ratio, job.tier);
          return (
            <li key={job.target?.id ?? `new-${index}`} class="ff-target">
              <span class="ff-target-name" title={targetLine(job)}>
                {targetLine(job)}
              </span>
              <span class="ff-target-cost">
                {job.cost} {job.cost === 1 ? 'credit' : 'credits'}
              </span>
              <span class="ff-target-detail">
                {job.tier} {size && size !== 'Auto' ? size : 'size the model picks'}
                {job.tierCapped && (
                  <span class="ff-note">
                    {' '}
                    · {job.ratio} has no {props.chosenTier}
                  </span>
                )}
              </span>
            </li>
          );
        })}
      </ul>
      {props.unusable.length > 0 && (
        <ul class="ff-hint-list" aria-label="Selected but not targets">
          {props.unusable.map((node) => (
            <li key={node.id}>
              {node.name} is not a target: {node.reason}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
