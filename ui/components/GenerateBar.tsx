// The batch summary and the Generate button: targets, per-target tiers, cost, balance, and why
// Generate is off when it is.
import { Button } from '@create-figma-plugin/ui';
import type { Account } from '../../core/api';
import type { Tier } from '../../core/formats';
import type { UnusableNode } from '../../core/messages';
import type { PlannedJob } from '../plan';

export function GenerateBar(props: {
  jobs: readonly PlannedJob[];
  chosenTier: Tier;
  summary: string;
  /** Selected layers that cannot take an image fill, with Figma's reason. */
  unusable: readonly UnusableNode[];
  cost: number;
  account: Account | undefined;
  blockedBy: string | undefined;
  exporting: { done: number; total: number } | undefined;
  onGenerate: () => void;
}) {
  const { jobs, cost } = props;
  const credits = `${cost} ${cost === 1 ? 'credit' : 'credits'}`;
  return (
    <section class="ff-section" aria-label="Generate">
      <p class="ff-summary">
        <span class="ff-label">Targets: </span>
        {props.summary}
      </p>
      <ul class="ff-hint-list" aria-label="Images to generate">
        {jobs.map((job, index) => (
          <li key={job.target?.id ?? `new-${index}`}>
            {job.target?.name ?? 'New frame'}: {job.ratio === 'auto' ? 'Auto' : job.ratio} {job.tier} · {job.cost}{' '}
            credits
            {job.tierCapped && (
              <span class="ff-note">
                {' '}
                ({job.ratio} has no {props.chosenTier}: rendered at {job.tier})
              </span>
            )}
          </li>
        ))}
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
      {props.account && (
        <p class="ff-muted">
          Balance: {props.account.balance_credits.toLocaleString('en-US')} credits ({props.account.name})
        </p>
      )}
      <Button
        fullWidth
        disabled={props.blockedBy !== undefined}
        onClick={props.onGenerate}
        aria-describedby={props.blockedBy ? 'ff-generate-reason' : undefined}
        title="⌘/Ctrl + Enter"
      >
        Generate · {credits}
      </Button>
      {props.blockedBy && (
        <p id="ff-generate-reason" class="ff-reason">
          {props.blockedBy}
        </p>
      )}
      {props.exporting && (
        <p role="status" class="ff-muted">
          Exporting {props.exporting.done} of {props.exporting.total}
        </p>
      )}
    </section>
  );
}
