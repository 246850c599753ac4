// The strip of jobs above the footer: one compact row per job — name, progress, what Cancel would do to the
// credits, and Place/Download once the image exists. It stays in view while jobs run.
import { Button, IconButton, IconCross32 } from '@create-figma-plugin/ui';
import { useEffect, useMemo, useRef } from 'preact/hooks';
import { ERROR_ADVICE } from '../../core/api';
import { cancelOutcome, isActive, type JobCard, progressOf, type Variation } from '../jobs';
import { ratioLabel } from '../plan';
import { ErrorText } from './ErrorText';

export function JobStrip(props: {
  cards: readonly JobCard[];
  /** The proxy refunds a job canceled after its upstream call started (FRAMEFILL_CANCEL_REFUND=started). */
  refundsStarted: boolean;
  onCancel: (key: string) => void;
  onCancelAll: () => void;
  onRetry: (key: string) => void;
  onPlaceInNewFrame: (key: string) => void;
  onDismiss: (key: string) => void;
  onDismissFinished: () => void;
  /** Puts variation `index` of a placed job into its layer. */
  onSwap: (key: string, index: number) => void;
  /** The last card was removed from the keyboard: the strip is gone, so the focus needs a new place. */
  onEmptied?: () => void;
}) {
  const list = useRef<HTMLUListElement>(null);
  /** Where the card removed from the keyboard was: the card then there (or the one before) gets the focus. */
  const refocusAt = useRef<number>();
  // Running jobs first, so their progress is what stays in view when the strip is full.
  const cards = [...props.cards.filter(isActive), ...props.cards.filter((card) => !isActive(card))];
  const { onEmptied } = props;
  useEffect(() => {
    const at = refocusAt.current;
    if (at === undefined) return;
    refocusAt.current = undefined;
    const rows = list.current?.querySelectorAll<HTMLElement>(':scope > li') ?? [];
    const row = rows[Math.min(at, rows.length - 1)];
    if (!row) return onEmptied?.();
    (row.querySelector<HTMLElement>('button[aria-label^="Dismiss "]') ?? row).focus();
  });
  if (props.cards.length === 0) return null;
  const finished = props.cards.filter((card) => !isActive(card)).length;
  const cancelable = props.cards.filter((card) => cancelOutcome(card) !== undefined).length;
  /** The button pressed goes away with what it removes: a disabled or removed button would drop focus to the page. */
  const keepFocus = (at: number) => {
    const active = document.activeElement;
    if (active && active.closest('.ff-strip') !== null) refocusAt.current = at;
  };
  const dismiss = (key: string) => {
    keepFocus(
      Math.max(
        0,
        cards.findIndex((card) => card.key === key),
      ),
    );
    props.onDismiss(key);
  };
  const dismissFinished = () => {
    keepFocus(0);
    props.onDismissFinished();
  };
  return (
    <section class="ff-strip" aria-labelledby="ff-jobs-label">
      <div class="ff-row">
        <h3 class="ff-label" id="ff-jobs-label">
          Jobs
        </h3>
        <span>
          {finished > 1 && (
            <button type="button" class="ff-text-button" onClick={dismissFinished}>
              Clear finished
            </button>
          )}
          {cancelable > 1 && (
            <button type="button" class="ff-text-button" onClick={props.onCancelAll}>
              Cancel all
            </button>
          )}
        </span>
      </div>
      <ul class="ff-jobs" ref={list}>
        {cards.map((card) => (
          <JobRow key={card.key} card={card} {...props} onDismiss={dismiss} />
        ))}
      </ul>
    </section>
  );
}

function credits(n: number): string {
  return `${n} ${n === 1 ? 'credit' : 'credits'}`;
}

/** What Cancel would do, said before the click (issue 15: a started upstream call is charged). */
export function cancelLabel(card: JobCard, refundsStarted = false): string | undefined {
  const outcome = cancelOutcome(card, refundsStarted);
  if (outcome === 'returned') return `Cancel — ${credits(card.costCredits)} returned`;
  if (outcome === 'charged') return `Cancel — the image service has started: ${credits(card.costCredits)} charged`;
  return undefined;
}

/**
 * Fewer variations came back than were asked: the proxy charged those and returned the rest of the reservation.
 * `undefined` when every variation came back.
 */
export function shortfallText(card: JobCard): string | undefined {
  const short = card.shortfall;
  if (!short) return undefined;
  const missing = short.asked - short.produced;
  const returned = Number.isInteger(short.perImage)
    ? `${missing} × ${credits(short.perImage)} returned`
    : `${credits(short.returnedCredits)} returned`;
  return `${short.produced} of ${short.asked} variations came back; ${returned}, ${credits(card.costCredits)} charged.`;
}

/** The job's state in a few words; an error's sentence is shown apart, once. */
export function statusText(card: JobCard): string {
  const where = card.targetId === null ? 'a new frame' : card.targetName;
  if (card.offline && isActive(card)) return 'Offline — will resume';
  switch (card.phase) {
    case 'submitting':
      return 'Sending to the proxy…';
    case 'unsent':
      // Without an answer the proxy may still have taken it; Retry reuses its Idempotency-Key.
      return card.error?.code === 'proxy_unreachable'
        ? 'Not sent: Retry can never charge twice.'
        : 'Not sent: nothing was charged.';
    case 'queued':
      return card.statusReason ?? (card.resumed ? 'Resuming…' : 'Queued');
    case 'running':
      return card.statusReason ?? (card.partials > 0 ? `Generating… preview ${card.partials}` : 'Generating…');
    case 'fetching':
      return 'Downloading the image…';
    case 'placing':
      return `Placing in ${where}…`;
    case 'placed': {
      const placed = card.createdFrame ? 'Placed in a new frame' : `Placed in ${where}`;
      const count = card.variationCount ?? 0;
      if (count <= 1) return `${placed}.`;
      // Says the variation the layer shows (main tells the panel of undo and redo too). The line is a live region,
      // so a swap is announced.
      const shown = card.shown ?? 0;
      if (card.placedVariation !== undefined && card.placedVariation === shown) {
        return `Placed variation ${shown + 1} of ${count} in a new frame.`;
      }
      const into = card.createdFrame ? 'the new frame' : where;
      return shown === 0
        ? `${placed}: variation 1 of ${count}.`
        : `Swapped variation ${shown + 1} of ${count} into ${into}; undo brings the previous one back.`;
    }
    case 'place_failed':
      return card.fromAnotherFile
        ? 'From another file: place it here or download it.'
        : 'Generated, but could not be placed.';
    case 'failed':
      return 'Failed.';
    case 'canceled':
      return card.creditsReturned === false
        ? `Canceled — the image service had started: ${credits(card.costCredits)} charged.`
        : `Canceled — ${credits(card.costCredits)} returned.`;
    case 'interrupted':
      return ERROR_ADVICE.interrupted;
  }
}

function JobRow(props: {
  card: JobCard;
  refundsStarted: boolean;
  onCancel: (key: string) => void;
  onRetry: (key: string) => void;
  onPlaceInNewFrame: (key: string) => void;
  onDismiss: (key: string) => void;
  onSwap: (key: string, index: number) => void;
}) {
  const { card } = props;
  const where = card.fromAnotherFile ? 'From another file' : card.targetId === null ? 'New frame' : card.targetName;
  const title = `${where} · ${ratioLabel(card.ratio)} ${card.tier}`;
  const result = card.result;
  const downloadUrl = useMemo(
    () => (result ? URL.createObjectURL(new Blob([result.bytes], { type: result.mime })) : undefined),
    [result],
  );
  useEffect(() => () => downloadUrl && URL.revokeObjectURL(downloadUrl), [downloadUrl]);
  const row = useRef<HTMLLIElement>(null);
  /** The control of this card that has the focus: Cancel and Retry go when the job changes phase. */
  const focused = useRef<Element>();
  useEffect(() => {
    const gone = focused.current;
    if (!gone || gone.isConnected || !document.hasFocus()) return;
    focused.current = undefined;
    // Focus that fell to the page (the button went with the phase) comes back to the card, on its Dismiss if any.
    if (document.activeElement && document.activeElement !== document.body) return;
    (row.current?.querySelector<HTMLElement>('button[aria-label^="Dismiss "]') ?? row.current)?.focus();
  });
  const active = isActive(card);
  const status = statusText(card);
  const cancel = cancelLabel(card, props.refundsStarted);
  return (
    <li
      class="ff-job"
      data-phase={card.phase}
      data-offline={card.offline ? 'true' : undefined}
      data-job-id={card.jobId}
      tabIndex={-1}
      ref={row}
      onFocusIn={(event) => {
        focused.current = event.target as Element;
      }}
      onFocusOut={(event) => {
        // Focus moved on to something else: nothing to bring back. (A removed button leaves no relatedTarget.)
        if (event.relatedTarget) focused.current = undefined;
      }}
    >
      <div class="ff-job-head">
        {card.partial && !result ? (
          <img class="ff-job-thumb" src={card.partial} alt={`Partial preview of ${title}`} />
        ) : null}
        <span class="ff-job-title" title={title}>
          {title}
        </span>
        {cancel && (
          <button
            type="button"
            class="ff-text-button"
            aria-label={cancel}
            title={cancel}
            onClick={() => props.onCancel(card.key)}
          >
            Cancel
          </button>
        )}
        {card.phase === 'unsent' && card.error?.code === 'proxy_unreachable' && (
          <button type="button" class="ff-text-button" onClick={() => props.onRetry(card.key)}>
            Retry
          </button>
        )}
        {result && downloadUrl && card.phase !== 'place_failed' && (
          <a class="ff-link" href={downloadUrl} download={result.fileName} title={`${result.width}×${result.height}`}>
            Download original
          </a>
        )}
        {!active && (
          <IconButton
            aria-label={`Dismiss ${title}`}
            title="Remove from this list"
            onClick={() => props.onDismiss(card.key)}
          >
            <IconCross32 />
          </IconButton>
        )}
      </div>
      <progress class="ff-progress" max={100} value={progressOf(card)} aria-label={`${title}: ${status}`} />
      <p class={card.offline && active ? 'ff-job-status ff-offline' : 'ff-job-status'} role="status" title={status}>
        {status}
        {cancel && !card.offline && (
          <span class="ff-muted">
            {' '}
            · Cancel: {credits(card.costCredits)}{' '}
            {cancelOutcome(card, props.refundsStarted) === 'returned' ? 'returned' : 'charged'}
          </span>
        )}
      </p>
      {shortfallText(card) && <p class="ff-muted ff-job-note">{shortfallText(card)}</p>}
      {(card.variationCount ?? 0) > 1 && (
        <Variations card={card} title={title} onSwap={(index) => props.onSwap(card.key, index)} />
      )}
      {card.phase === 'placed' && card.swapFailed !== undefined && (
        // What main's sentence for a refused swap offers: the variation, kept in the panel, in a frame of its own.
        <div class="ff-row ff-actions">
          <Button secondary onClick={() => props.onPlaceInNewFrame(card.key)}>
            Place variation {card.swapFailed + 1} in a new frame
          </Button>
        </div>
      )}
      {card.error && <ErrorText error={card.error} proxyUrl={card.proxyUrl} />}
      {result && downloadUrl && card.phase === 'place_failed' && (
        <div class="ff-row ff-actions">
          <Button secondary onClick={() => props.onPlaceInNewFrame(card.key)}>
            {card.fromAnotherFile ? 'Place here' : 'Place in a new frame'}
          </Button>
          <a class="ff-link" href={downloadUrl} download={result.fileName}>
            Download
          </a>
          <span class="ff-muted">
            {result.width}×{result.height}
          </span>
        </div>
      )}
    </li>
  );
}

/**
 * The job's variations as a strip of thumbnails, each shown as it arrives: the pressed one is in the layer, and
 * clicking another swaps it in (one undo step in Figma). Each stays downloadable.
 */
function Variations(props: { card: JobCard; title: string; onSwap: (index: number) => void }) {
  const { card } = props;
  const count = card.variationCount ?? 0;
  return (
    <ul class="ff-variations" aria-label={`Variations of ${props.title}`}>
      {Array.from({ length: count }, (_, index) => {
        const variation = card.variations?.find((v) => v.index === index);
        return (
          <li key={index} class="ff-variation">
            {variation ? (
              <VariationThumb
                variation={variation}
                count={count}
                shown={card.shown === index}
                swapping={card.swapping === index}
                canSwap={card.phase === 'placed' && card.swapping === undefined}
                onSwap={() => props.onSwap(index)}
              />
            ) : card.missingVariations?.includes(index) ? (
              <span
                class="ff-variation-waiting ff-variation-missing"
                role="img"
                aria-label={`Variation ${index + 1} of ${count}: not downloaded — place or download it from History`}
                title={`Variation ${index + 1} of ${count}: not downloaded — place or download it from History`}
              >
                !
              </span>
            ) : (
              <span
                class="ff-variation-waiting"
                role="img"
                aria-label={`Variation ${index + 1} of ${count}: downloading…`}
              />
            )}
          </li>
        );
      })}
    </ul>
  );
}

function VariationThumb(props: {
  variation: Variation;
  count: number;
  shown: boolean;
  swapping: boolean;
  canSwap: boolean;
  onSwap: () => void;
}) {
  const { variation } = props;
  const url = useMemo(() => URL.createObjectURL(new Blob([variation.bytes], { type: variation.mime })), [variation]);
  useEffect(() => () => URL.revokeObjectURL(url), [url]);
  const label = `Variation ${variation.index + 1} of ${props.count}`;
  return (
    <>
      <button
        type="button"
        class="ff-variation-button"
        aria-label={label}
        aria-pressed={props.shown}
        aria-busy={props.swapping}
        title={props.shown ? `${label} — in the layer` : `${label} — put it in the layer`}
        // aria-disabled, not disabled: the button just pressed stays focused while its swap runs (a disabled one
        // would drop keyboard focus to the page).
        aria-disabled={!props.canSwap && !props.shown ? 'true' : undefined}
        onClick={() => {
          if (!props.shown && props.canSwap) props.onSwap();
        }}
      >
        <img src={url} alt="" />
      </button>
      <a
        class="ff-link ff-variation-download"
        href={url}
        download={variation.fileName}
        aria-label={`Download ${label.toLowerCase()}`}
      >
        ↓
      </a>
    </>
  );
}
