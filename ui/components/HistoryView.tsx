// History: the caller's jobs on this proxy, newest first, a page at a time, filtered by the prompt. Each entry
// shows its thumbnails (one per variation), the prompt's start, ratio, tier, cost, status and age; the chosen
// variation can be placed into the selected frame (or a new one) and downloaded while the proxy keeps its image,
// and the prompt and settings reused.
import { Button, Disclosure, Textbox } from '@create-figma-plugin/ui';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { HISTORY_PAGE_DEFAULT, type Job, type JobImage } from '../../core/api';
import { searchProblem } from '../../core/validate';
import type { ShownError } from '../errors';
import { ageText, hasImage, historyErrorSentence, noImageReason, promptStart, variationsText } from '../history';
import { ratioLabel } from '../plan';
import type { ProxyClient } from '../proxy-client';
import { toApiError } from '../proxy-client';

/** How long the search rests before History asks the proxy. */
const SEARCH_DELAY_MS = 300;

export function HistoryView(props: {
  open: boolean;
  onToggle: () => void;
  client: ProxyClient;
  /** Where Place puts an image: the one selected frame's name, or `undefined` for a new frame. */
  targetName: string | undefined;
  /** Places image `index` of the job; 'removed' when the proxy no longer has it. */
  onPlace: (job: Job, index: number) => Promise<'removed' | undefined>;
  onReuse: (job: Job) => void;
  /** Downloads image `index` of the job; 'removed' when the proxy no longer has it. */
  onDownload: (job: Job, index: number) => Promise<'removed' | undefined>;
  /** Changes when a job of this panel ends, so an open History shows it without a click. */
  refreshKey?: number;
}) {
  const [query, setQuery] = useState('');
  const [jobs, setJobs] = useState<Job[]>([]);
  const shown = useRef(jobs);
  shown.current = jobs;
  const [cursor, setCursor] = useState<string | null>(null);
  /**
   * The search the list shown was asked for: its cursor continues that search only (the proxy's cursor is the last
   * job listed, so with other words it would skip their newer jobs), and the box may already hold words not yet asked.
   */
  const [listedQuery, setListedQuery] = useState('');
  const [loading, setLoading] = useState<'first' | 'older'>();
  const [loadedOnce, setLoadedOnce] = useState(false);
  const [error, setError] = useState<ShownError>();
  /** The page that failed (`null`: the first), so Try again asks for it again and keeps what is listed. */
  const [failedAfter, setFailedAfter] = useState<string | null>(null);
  const asked = useRef(0);
  /** The proxy and search of the list shown: a first page asked again for both refreshes it rather than replacing it. */
  const listedFor = useRef<{ client: ProxyClient; q: string }>();
  const list = useRef<HTMLUListElement>(null);
  /** After Show older, focus goes to the first older entry: the button may be gone, and that is where reading goes on. */
  const focusAt = useRef<number>();
  const tooLong = searchProblem(query);
  /** An image the proxy removed since it was listed reads as removed, as the next page load would show it. */
  const markRemoved = useCallback((jobId: string, index: number) => {
    setJobs((previous) =>
      previous.map((job) =>
        job.id === jobId
          ? {
              ...job,
              images: job.images?.map((image) => (image.index === index ? { ...image, expired: true } : image)),
            }
          : job,
      ),
    );
  }, []);

  const load = useCallback(
    /** `focusList`: the first page's first entry gets the focus (the Try again pressed goes). */
    async (q: string, after: string | null, focusList = false) => {
      const ask = ++asked.current;
      setLoading(after ? 'older' : 'first');
      if (!after && listedFor.current && listedFor.current.client !== props.client) {
        // Another proxy or token: the entries shown are another account's, never to be placed through this one.
        listedFor.current = undefined;
        setJobs([]);
        setCursor(null);
      }
      try {
        const page = await props.client.listJobs({
          q: q.trim() || undefined,
          cursor: after ?? undefined,
          limit: HISTORY_PAGE_DEFAULT,
        });
        if (ask !== asked.current) return;
        const same = listedFor.current?.client === props.client && listedFor.current.q === q.trim();
        if (after) {
          setJobs((previous) => {
            if (page.jobs.length > 0) focusAt.current = previous.length;
            return [...previous, ...page.jobs];
          });
          setCursor(page.next_cursor);
        } else {
          // A refresh (a job ended, History reopened): the older pages already shown stay, and with them the place
          // the designer was reading and the keyboard focus; their cursor still continues after them.
          const tail = same ? olderThan(shown.current, page.jobs) : [];
          if (focusList && page.jobs.length > 0) focusAt.current = 0;
          setJobs([...page.jobs, ...tail]);
          if (tail.length === 0) setCursor(page.next_cursor);
        }
        if (!after) {
          listedFor.current = { client: props.client, q: q.trim() };
          setListedQuery(q.trim());
        }
        setError(undefined);
        setLoadedOnce(true);
      } catch (caught) {
        if (ask !== asked.current) return;
        const apiError = toApiError(caught);
        setError({ code: apiError.code, message: apiError.message, retry_after: apiError.retry_after });
        setFailedAfter(after);
      } finally {
        if (ask === asked.current) setLoading(undefined);
      }
    },
    [props.client],
  );

  useEffect(() => {
    if (!props.open || tooLong) return;
    const timer = setTimeout(() => void load(query, null), query ? SEARCH_DELAY_MS : 0);
    return () => clearTimeout(timer);
  }, [props.open, query, tooLong, load, props.refreshKey]);

  useEffect(() => {
    const at = focusAt.current;
    if (at === undefined) return;
    focusAt.current = undefined;
    list.current?.querySelectorAll<HTMLElement>(':scope > li')[at]?.focus();
  }, [jobs]);

  const empty = loadedOnce && !loading && jobs.length === 0 && !error && !tooLong;
  return (
    <Disclosure open={props.open} title="History" onClick={props.onToggle}>
      <div class="ff-history">
        <Textbox
          value={query}
          placeholder="Search prompts"
          aria-label="Search prompts"
          aria-invalid={tooLong ? 'true' : undefined}
          onValueInput={(value) => setQuery(value)}
        />
        {tooLong && (
          <p role="alert" class="ff-alert">
            {tooLong}
          </p>
        )}
        {error && !tooLong && (
          <div class="ff-history-error">
            <p role="alert" class="ff-alert" data-code={error.code}>
              {historyErrorSentence(error, props.client.baseUrl)}
            </p>
            <button
              type="button"
              class="ff-text-button"
              // aria-disabled, not disabled: the button just pressed keeps the keyboard focus while it loads.
              aria-disabled={loading !== undefined ? 'true' : undefined}
              onClick={() => {
                if (loading !== undefined) return;
                // The button goes once the page is there: the focus then moves to the list (older pages say where).
                void load(failedAfter ? listedQuery : query, failedAfter, true);
              }}
            >
              Try again
            </button>
          </div>
        )}
        <ul class="ff-history-list" aria-label="Past jobs" aria-busy={loading !== undefined} ref={list}>
          {jobs.map((job) => (
            <HistoryEntry key={job.id} job={job} {...props} onRemoved={markRemoved} />
          ))}
        </ul>
        <p role="status" class="ff-muted">
          {loading === 'first' && jobs.length === 0
            ? 'Loading History…'
            : empty
              ? listedQuery
                ? `No generation matches “${listedQuery}”: try other words.`
                : 'No generations yet: the images you generate appear here.'
              : ''}
        </p>
        {cursor && !tooLong && (
          <Button secondary onClick={() => void load(listedQuery, cursor)} disabled={loading !== undefined}>
            {loading === 'older' ? 'Loading older…' : 'Show older'}
          </Button>
        )}
      </div>
    </Disclosure>
  );
}

/**
 * The entries of `previous` after the last one the fresh first page also lists: older than the whole page, so they
 * follow it unchanged, and the cursor after them stays right. None when the page shares no entry (more new jobs than
 * a page: the list starts again from the page).
 */
function olderThan(previous: readonly Job[], page: readonly Job[]): Job[] {
  const fresh = new Set(page.map((job) => job.id));
  let last = -1;
  previous.forEach((job, at) => {
    if (fresh.has(job.id)) last = at;
  });
  return last < 0 ? [] : previous.slice(last + 1);
}

function HistoryEntry(props: {
  job: Job;
  client: ProxyClient;
  targetName: string | undefined;
  onPlace: (job: Job, index: number) => Promise<'removed' | undefined>;
  onReuse: (job: Job) => void;
  onDownload: (job: Job, index: number) => Promise<'removed' | undefined>;
  onRemoved: (jobId: string, index: number) => void;
}) {
  const { job } = props;
  const images = job.images ?? [];
  const [chosen, setChosen] = useState(images[0]?.index ?? 0);
  const [busy, setBusy] = useState(false);
  const item = useRef<HTMLLIElement>(null);
  const reuse = useRef<HTMLButtonElement>(null);
  /** Set when the pressed button turns off because its image was removed: focus moves to Reuse, the way on. */
  const refocus = useRef(false);
  const prompt = promptStart(job.prompt);
  const missing = noImageReason(job, chosen);
  // While a Place or Download runs, both say so with aria-disabled rather than disabled: a disabled button would drop
  // the keyboard focus that just pressed it.
  const run = async (work: () => Promise<'removed' | undefined>) => {
    if (busy) return;
    setBusy(true);
    try {
      if ((await work()) === 'removed') {
        refocus.current = item.current?.contains(document.activeElement) ?? false;
        props.onRemoved(job.id, chosen);
      }
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    if (!refocus.current || !missing) return;
    refocus.current = false;
    // A disabled button drops keyboard focus to the page.
    (reuse.current && !reuse.current.disabled ? reuse.current : item.current)?.focus();
  }, [missing]);
  const several = images.length > 1;
  const which = several ? ` (variation ${chosen + 1} of ${images.length})` : '';
  const where = props.targetName ? `Place in ${props.targetName}` : 'Place in a new frame';
  const reasonId = `ff-history-reason-${job.id}`;
  const groupName = `ff-history-variation-${job.id}`;
  return (
    <li class="ff-history-entry" data-job-id={job.id} data-status={job.status} tabIndex={-1} ref={item}>
      {several ? null : images[0] ? (
        <Thumbnail client={props.client} image={images[0]} alt={`Thumbnail of “${prompt}”`} />
      ) : (
        <span class="ff-history-thumb ff-history-nothumb" aria-hidden="true" />
      )}
      <div class="ff-history-text">
        <p class="ff-history-prompt" title={job.prompt}>
          {prompt}
        </p>
        <p class="ff-muted">
          {ratioLabel(job.aspect_ratio)} · {job.resolution} · {job.cost_credits}{' '}
          {job.cost_credits === 1 ? 'credit' : 'credits'} · {job.status} · {ageText(job.created_at)}
          {variationsText(job) ? ` · ${variationsText(job)}` : ''}
        </p>
        {several && (
          <div class="ff-history-variations" role="radiogroup" aria-label={`Variation of “${prompt}” to use`}>
            {images.map((image) => (
              <label
                key={image.index}
                class="ff-history-variation"
                title={image.expired ? `Variation ${image.index + 1}: image removed` : `Variation ${image.index + 1}`}
              >
                <input
                  type="radio"
                  class="ff-sr"
                  name={groupName}
                  value={String(image.index)}
                  checked={chosen === image.index}
                  aria-label={`Variation ${image.index + 1} of ${images.length}${image.expired ? ', image removed' : ''}`}
                  onChange={() => setChosen(image.index)}
                />
                <Thumbnail client={props.client} image={image} alt="" />
              </label>
            ))}
          </div>
        )}
        {missing && (
          <p class="ff-muted" id={reasonId}>
            {missing}
          </p>
        )}
        <div class="ff-row ff-actions">
          <button
            type="button"
            class="ff-text-button ff-history-place"
            disabled={!hasImage(job, chosen)}
            aria-disabled={busy ? 'true' : undefined}
            // The name starts with the words shown, so a voice command that reads the button finds it.
            aria-label={`${where}${which}: ${prompt}`}
            aria-describedby={missing ? reasonId : undefined}
            title={where}
            onClick={() => void run(() => props.onPlace(job, chosen))}
          >
            {where}
          </button>
          <button
            type="button"
            class="ff-text-button"
            ref={reuse}
            disabled={!job.prompt}
            aria-label={`Reuse prompt and settings: ${prompt}`}
            onClick={() => props.onReuse(job)}
          >
            Reuse
          </button>
          <button
            type="button"
            class="ff-text-button"
            disabled={!hasImage(job, chosen)}
            aria-disabled={busy ? 'true' : undefined}
            aria-label={`Download${which}: ${prompt}`}
            aria-describedby={missing ? reasonId : undefined}
            onClick={() => void run(() => props.onDownload(job, chosen))}
          >
            Download
          </button>
        </div>
      </div>
    </li>
  );
}

/** One image's thumbnail, fetched with the token from its `thumbnail_url` (an <img> cannot send one). */
function Thumbnail(props: { client: ProxyClient; image: JobImage; alt: string }) {
  const [url, setUrl] = useState<string>();
  const { client, image } = props;
  useEffect(() => {
    const controller = new AbortController();
    let made: string | undefined;
    client
      .getThumbnail(image, controller.signal)
      .then((thumbnail) => {
        // Bytes read before the entry went arrive after its clean-up: a URL made now would never be revoked.
        if (controller.signal.aborted) return;
        made = URL.createObjectURL(new Blob([thumbnail.bytes], { type: thumbnail.mime }));
        setUrl(made);
      })
      // A missing thumbnail leaves the grey square; the entry's text and actions do not depend on it.
      .catch(() => undefined);
    return () => {
      controller.abort();
      if (made) URL.revokeObjectURL(made);
    };
  }, [client, image.thumbnail_url]);
  return url ? (
    <img class="ff-history-thumb" src={url} alt={props.alt} data-expired={image.expired ? 'true' : undefined} />
  ) : (
    <span class="ff-history-thumb ff-history-nothumb" aria-hidden="true" />
  );
}
