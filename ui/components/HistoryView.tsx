// History: the caller's jobs on this proxy, newest first, a page at a time, filtered by the prompt. Each entry
// shows its thumbnail, the prompt's start, ratio, tier, cost, status and age; it can be placed into the selected
// frame (or a new one), its prompt and settings reused, and its image downloaded while the proxy keeps it.
import { Button, Disclosure, Textbox } from '@create-figma-plugin/ui';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { HISTORY_PAGE_DEFAULT, type Job } from '../../core/api';
import type { ShownError } from '../errors';
import { ageText, hasImage, noImageReason, promptStart } from '../history';
import { ratioLabel } from '../plan';
import { type ProxyClient, toApiError } from '../proxy-client';
import { ErrorText } from './ErrorText';

/** How long the search rests before History asks the proxy. */
const SEARCH_DELAY_MS = 300;

export function HistoryView(props: {
  open: boolean;
  onToggle: () => void;
  client: ProxyClient;
  /** Where Place puts an image: the one selected frame's name, or `undefined` for a new frame. */
  targetName: string | undefined;
  onPlace: (job: Job) => Promise<void>;
  onReuse: (job: Job) => void;
  onDownload: (job: Job) => Promise<void>;
  /** Changes when a job of this panel ends, so an open History shows it without a click. */
  refreshKey?: number;
}) {
  const [query, setQuery] = useState('');
  const [jobs, setJobs] = useState<Job[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<ShownError>();
  const asked = useRef(0);

  const load = useCallback(
    async (q: string, after: string | null) => {
      const ask = ++asked.current;
      setLoading(true);
      try {
        const page = await props.client.listJobs({
          q: q.trim() || undefined,
          cursor: after ?? undefined,
          limit: HISTORY_PAGE_DEFAULT,
        });
        if (ask !== asked.current) return;
        setJobs((previous) => (after ? [...previous, ...page.jobs] : page.jobs));
        setCursor(page.next_cursor);
        setError(undefined);
      } catch (caught) {
        if (ask !== asked.current) return;
        const apiError = toApiError(caught);
        setError({ code: apiError.code, message: apiError.message, retry_after: apiError.retry_after });
      } finally {
        if (ask === asked.current) setLoading(false);
      }
    },
    [props.client],
  );

  useEffect(() => {
    if (!props.open) return;
    const timer = setTimeout(() => void load(query, null), query ? SEARCH_DELAY_MS : 0);
    return () => clearTimeout(timer);
  }, [props.open, query, load, props.refreshKey]);

  return (
    <Disclosure open={props.open} title="History" onClick={props.onToggle}>
      <div class="ff-history">
        <Textbox
          value={query}
          placeholder="Search prompts"
          aria-label="Search prompts"
          onValueInput={(value) => setQuery(value)}
        />
        {error && <ErrorText error={error} proxyUrl={props.client.baseUrl} />}
        <ul class="ff-history-list" aria-label="Past jobs" aria-busy={loading}>
          {jobs.map((job) => (
            <HistoryEntry key={job.id} job={job} {...props} />
          ))}
        </ul>
        {!loading && jobs.length === 0 && !error && (
          <p class="ff-muted">{query ? 'No job matches this search.' : 'No jobs yet on this proxy.'}</p>
        )}
        {cursor && (
          <Button secondary onClick={() => void load(query, cursor)} disabled={loading}>
            Show older
          </Button>
        )}
      </div>
    </Disclosure>
  );
}

function HistoryEntry(props: {
  job: Job;
  client: ProxyClient;
  targetName: string | undefined;
  onPlace: (job: Job) => Promise<void>;
  onReuse: (job: Job) => void;
  onDownload: (job: Job) => Promise<void>;
}) {
  const { job } = props;
  const thumbnail = useThumbnail(props.client, job);
  const [busy, setBusy] = useState(false);
  const prompt = promptStart(job.prompt);
  const missing = noImageReason(job);
  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    try {
      await work();
    } finally {
      setBusy(false);
    }
  };
  const where = props.targetName ? `Place in ${props.targetName}` : 'Place in a new frame';
  const variations = job.images && job.images.length > 1 ? ` · ${job.images.length} variations` : '';
  return (
    <li class="ff-history-entry" data-job-id={job.id} data-status={job.status}>
      {thumbnail ? (
        <img class="ff-history-thumb" src={thumbnail} alt={`Thumbnail of “${prompt}”`} />
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
          {variations}
        </p>
        {missing && <p class="ff-muted">{missing}</p>}
        <div class="ff-row ff-actions">
          <button
            type="button"
            class="ff-text-button"
            disabled={!hasImage(job) || busy}
            aria-label={`${where}: ${prompt}`}
            onClick={() => void run(() => props.onPlace(job))}
          >
            {props.targetName ? 'Place in selection' : 'Place in new frame'}
          </button>
          <button
            type="button"
            class="ff-text-button"
            disabled={!job.prompt}
            aria-label={`Reuse prompt and settings: ${prompt}`}
            onClick={() => props.onReuse(job)}
          >
            Reuse
          </button>
          <button
            type="button"
            class="ff-text-button"
            disabled={!hasImage(job) || busy}
            aria-label={`Download: ${prompt}`}
            onClick={() => void run(() => props.onDownload(job))}
          >
            Download
          </button>
        </div>
      </div>
    </li>
  );
}

/** The entry's thumbnail as an object URL, fetched with the token (an <img> cannot send one). */
function useThumbnail(client: ProxyClient, job: Job): string | undefined {
  const [url, setUrl] = useState<string>();
  const first = job.images?.[0];
  useEffect(() => {
    if (!first) return;
    const controller = new AbortController();
    let made: string | undefined;
    client
      .getThumbnail(job.id, first.index, controller.signal)
      .then((image) => {
        made = URL.createObjectURL(new Blob([image.bytes], { type: image.mime }));
        setUrl(made);
      })
      .catch(() => undefined);
    return () => {
      controller.abort();
      if (made) URL.revokeObjectURL(made);
    };
  }, [client, job.id, first]);
  return url;
}
