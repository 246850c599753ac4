// One card per job: progress bar, status, partial preview, Cancel, and the result's downloads.
import { Button } from '@create-figma-plugin/ui';
import { useEffect, useMemo } from 'preact/hooks';
import { isActive, type JobCard, progressOf } from '../jobs';
import { ErrorText } from './ErrorText';

export function JobList(props: {
  cards: readonly JobCard[];
  proxyUrl: string;
  onCancel: (key: string) => void;
  onCancelAll: () => void;
  onPlaceInNewFrame: (key: string) => void;
  onDismiss: (key: string) => void;
}) {
  if (props.cards.length === 0) return null;
  const active = props.cards.filter(isActive).length;
  return (
    <section class="ff-section ff-jobs-section" aria-labelledby="ff-jobs-label">
      <div class="ff-row">
        <h3 class="ff-label" id="ff-jobs-label">
          Jobs
        </h3>
        {active > 1 && (
          <Button secondary onClick={props.onCancelAll}>
            Cancel all
          </Button>
        )}
      </div>
      <ul class="ff-jobs">
        {props.cards.map((card) => (
          <JobItem key={card.key} card={card} {...props} />
        ))}
      </ul>
    </section>
  );
}

function statusText(card: JobCard): string {
  const where = card.targetId === null ? 'a new frame' : card.targetName;
  switch (card.phase) {
    case 'submitting':
      return 'Sending to the proxy…';
    case 'queued':
      return card.resumed ? 'Resuming…' : 'Queued';
    case 'running':
      return card.reconnecting
        ? 'Generating… (reconnecting to the proxy)'
        : card.partials > 0
          ? `Generating… preview ${card.partials}`
          : 'Generating…';
    case 'fetching':
      return 'Downloading the image…';
    case 'placing':
      return `Placing in ${where}…`;
    case 'placed':
      return card.createdFrame ? 'Placed in a new frame.' : `Placed in ${where}.`;
    case 'place_failed':
      return card.fromAnotherFile
        ? 'From another file: place it here or download it.'
        : 'Generated, but could not be placed.';
    case 'failed':
      return 'Failed.';
    case 'canceled':
      return 'Canceled: its credits were returned.';
    case 'interrupted':
      return 'Interrupted: its credits were returned.';
  }
}

function JobItem(props: {
  card: JobCard;
  proxyUrl: string;
  onCancel: (key: string) => void;
  onPlaceInNewFrame: (key: string) => void;
  onDismiss: (key: string) => void;
}) {
  const { card } = props;
  const where = card.fromAnotherFile ? 'From another file' : card.targetId === null ? 'New frame' : card.targetName;
  const title = `${where} · ${card.ratio === 'auto' ? 'Auto' : card.ratio} ${card.tier}`;
  const result = card.result;
  const downloadUrl = useMemo(
    () => (result ? URL.createObjectURL(new Blob([result.bytes], { type: result.mime })) : undefined),
    [result],
  );
  useEffect(() => () => downloadUrl && URL.revokeObjectURL(downloadUrl), [downloadUrl]);
  const progress = progressOf(card);
  const active = isActive(card);
  return (
    <li class="ff-job" data-phase={card.phase} data-job-id={card.jobId}>
      <div class="ff-row">
        <span class="ff-job-title">{title}</span>
        {active && card.jobId && card.phase !== 'placing' && (
          <button type="button" class="ff-text-button" onClick={() => props.onCancel(card.key)}>
            Cancel
          </button>
        )}
        {!active && (
          <button
            type="button"
            class="ff-icon-button"
            aria-label="Dismiss"
            title="Remove from this list"
            onClick={() => props.onDismiss(card.key)}
          >
            ×
          </button>
        )}
      </div>
      <progress class="ff-progress" max={100} value={progress} aria-label={`${title}: ${statusText(card)}`} />
      <p class="ff-muted" role="status">
        {statusText(card)}
      </p>
      {card.partial && !result && <img class="ff-preview" src={card.partial} alt={`Partial preview of ${title}`} />}
      {card.error && <ErrorText error={card.error} proxyUrl={props.proxyUrl} />}
      {result && downloadUrl && (
        <div class="ff-row ff-actions">
          {card.phase === 'place_failed' && (
            <Button secondary onClick={() => props.onPlaceInNewFrame(card.key)}>
              {card.fromAnotherFile ? 'Place here' : 'Place in a new frame'}
            </Button>
          )}
          <a class="ff-link" href={downloadUrl} download={result.fileName}>
            {card.phase === 'place_failed' ? 'Download' : 'Download original'}
          </a>
          <span class="ff-muted">
            {result.width}×{result.height}
          </span>
        </div>
      )}
    </li>
  );
}
