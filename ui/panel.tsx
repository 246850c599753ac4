// The Framefill panel, top to bottom: prompt, ratio, resolution, references, targets and cost, Generate,
// jobs, settings. State lives here; the proxy client, the job runner and the exporter do the work.
import { Container, Divider, VerticalSpace } from '@create-figma-plugin/ui';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Account, Capabilities } from '../core/api';
import { effectiveTier, type Tier, tiersFor } from '../core/formats';
import { MAX_REFERENCES } from '../core/limits';
import { DEFAULT_SETTINGS, type MainToPanelPayload, type Settings, type TrayItem } from '../core/messages';
import { validateGeneration } from '../core/validate';
import type { Bridge } from './bridge';
import { ErrorText } from './components/ErrorText';
import { GenerateBar } from './components/GenerateBar';
import { JobList } from './components/JobList';
import { PromptField } from './components/PromptField';
import { RatioPicker } from './components/RatioPicker';
import { ReferenceTray, type Thumbnail } from './components/ReferenceTray';
import { ResolutionPicker } from './components/ResolutionPicker';
import { SettingsPanel } from './components/SettingsPanel';
import type { ShownError } from './errors';
import { type ExportedReference, Exporter } from './exporter';
import { type JobCard, JobRunner } from './jobs';
import { planCost, planJobs, type RatioChoice, ratioOptions, suggestedTier, targetsSummary } from './plan';
import { ProxyClient, toApiError } from './proxy-client';

/** Long edge of a tray thumbnail: small, so exporting a full tray stays quick. */
export const THUMBNAIL_EDGE = 96;

export interface PanelProps {
  bridge: Bridge;
  defaultProxyUrl: string;
  /** Tests inject a fetch; the panel otherwise uses the browser's. */
  fetch?: typeof fetch;
  /** The origins the built manifest lets the panel reach (Settings refuses others); unset: not checked. */
  allowedOrigins?: readonly string[];
}

type Selection = MainToPanelPayload<'SELECTION_CHANGED'>;

export function Panel({ bridge, defaultProxyUrl, fetch: fetchImpl, allowedOrigins }: PanelProps) {
  const [loaded, setLoaded] = useState(false);
  const [settings, setSettings] = useState<Settings>({ ...DEFAULT_SETTINGS, proxyUrl: defaultProxyUrl });
  const [tray, setTray] = useState<TrayItem[]>([]);
  const [selection, setSelection] = useState<Selection>({ targets: [], unusable: [], selectionCount: 0 });
  const [prompt, setPrompt] = useState('');
  const [ratioChoice, setRatioChoice] = useState<RatioChoice>('from-frame');
  const [tier, setTier] = useState<Tier>('1K');
  const tierTouched = useRef(false);
  const [capabilities, setCapabilities] = useState<Capabilities>();
  const [account, setAccount] = useState<Account>();
  const [connectionError, setConnectionError] = useState<ShownError>();
  const [notice, setNotice] = useState<string>();
  const [trayError, setTrayError] = useState<string>();
  const [exporting, setExporting] = useState<{ done: number; total: number }>();
  const [thumbnails, setThumbnails] = useState<Map<string, Thumbnail>>(new Map());
  const [cards, setCards] = useState<JobCard[]>([]);
  const [settingsOpen, setSettingsOpen] = useState(false);

  const clients = useRef(new Map<string, ProxyClient>());
  const clientFor = useCallback(
    (proxyUrl: string, token: string) => {
      const key = `${proxyUrl}\n${token}`;
      let client = clients.current.get(key);
      if (!client) {
        client = new ProxyClient({ baseUrl: proxyUrl, token, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
        clients.current.set(key, client);
      }
      return client;
    },
    [fetchImpl],
  );
  const settingsRef = useRef(settings);
  settingsRef.current = settings;

  const refreshAccount = useCallback(async () => {
    const current = clientFor(settingsRef.current.proxyUrl, settingsRef.current.token);
    try {
      const [caps, acct] = await Promise.all([current.getCapabilities(), current.getAccount()]);
      setCapabilities(caps);
      setAccount(acct);
      setConnectionError(undefined);
    } catch (error) {
      const apiError = toApiError(error);
      setAccount(undefined);
      setConnectionError({ code: apiError.code, message: apiError.message, retry_after: apiError.retry_after });
    }
  }, [clientFor]);

  const exporter = useMemo(() => new Exporter(bridge.send), [bridge]);
  const runner = useMemo(
    () =>
      new JobRunner({
        send: bridge.send,
        // A resumed job goes to the proxy that accepted it, with today's token.
        clientFor: (proxyUrl) => clientFor(proxyUrl, settingsRef.current.token),
        onChange: setCards,
        onSettled: () => void refreshAccount(),
      }),
    [bridge, clientFor, refreshAccount],
  );

  // The main thread answers PANEL_READY with STORAGE_LOADED, then SELECTION_CHANGED.
  useEffect(() => {
    const stop = bridge.listen({
      STORAGE_LOADED: (payload) => {
        setSettings(payload.settings);
        settingsRef.current = payload.settings;
        setTray(payload.tray);
        if (payload.notice) setNotice(payload.notice);
        if (payload.relaunch) {
          const { provenance } = payload.relaunch;
          setPrompt(provenance.prompt);
          setRatioChoice(provenance.aspectRatio);
          setTier(provenance.resolution);
          tierTouched.current = true;
        }
        setLoaded(true);
        if (payload.pendingJobs.length > 0) runner.resume(payload.pendingJobs);
      },
      SELECTION_CHANGED: setSelection,
      REFERENCE_EXPORTED: (payload) => exporter.onExported(payload),
      REFERENCES_EXPORTED: (payload) => exporter.onDone(payload),
      IMAGE_PLACED: (payload) => runner.onImagePlaced(payload),
      PLACE_FAILED: (payload) => runner.onPlaceFailed(payload),
    });
    bridge.send('PANEL_READY', {});
    return () => {
      stop();
      runner.dispose();
    };
  }, [bridge, exporter, runner]);

  useEffect(() => {
    if (loaded) void refreshAccount();
  }, [loaded, settings.proxyUrl, settings.token, refreshAccount]);

  const { targets } = selection;
  const suggested = suggestedTier(targets);
  // Until the user picks a tier, follow what the selected frames suggest.
  useEffect(() => {
    if (!tierTouched.current && suggested) setTier(suggested);
  }, [suggested]);

  // Thumbnails for tray items not seen yet, exported small.
  const asked = useRef(new Set<string>());
  useEffect(() => {
    const wanted = tray.map((t) => t.nodeId).filter((id) => !asked.current.has(id));
    if (!loaded || wanted.length === 0) return;
    for (const id of wanted) asked.current.add(id);
    void exporter.request(wanted, THUMBNAIL_EDGE).then(({ images, missing }) => {
      setThumbnails((previous) => {
        const next = new Map(previous);
        for (const image of images) next.set(image.nodeId, { url: imageUrl(image) });
        for (const id of missing) next.set(id, { missing: true });
        return next;
      });
    });
  }, [tray, loaded, exporter]);

  const saveTray = (next: TrayItem[]) => {
    setTray(next);
    bridge.send('SAVE_STORAGE', { tray: next });
  };
  const addSelection = () => {
    const selected = [...selection.targets, ...selection.unusable].map((n) => ({ nodeId: n.id, name: n.name }));
    const fresh = selected.filter((n) => !tray.some((t) => t.nodeId === n.nodeId));
    const room = MAX_REFERENCES - tray.length;
    const added = fresh.slice(0, Math.max(0, room));
    const refused = fresh.length - added.length;
    if (added.length > 0) saveTray([...tray, ...added]);
    setTrayError(
      refused > 0
        ? `The tray holds at most ${MAX_REFERENCES} references: ${refused} not added. Remove some first.`
        : undefined,
    );
    if (fresh.length === 0 && selected.length > 0) setNotice('The selected layers are already in the tray.');
    else if (added.length > 0) setNotice(`${added.length} added to the references.`);
  };
  const removeFromTray = (nodeId: string) => {
    setTrayError(undefined);
    saveTray(tray.filter((t) => t.nodeId !== nodeId));
  };
  const moveInTray = (nodeId: string, delta: -1 | 1) => {
    const from = tray.findIndex((t) => t.nodeId === nodeId);
    const to = from + delta;
    if (from < 0 || to < 0 || to >= tray.length) return;
    const next = [...tray];
    [next[from], next[to]] = [next[to] as TrayItem, next[from] as TrayItem];
    saveTray(next);
  };
  const saveSettings = (next: Settings) => {
    setSettings(next);
    bridge.send('SAVE_STORAGE', { settings: next });
    setNotice('Settings saved.');
  };

  const chooseRatio = (choice: RatioChoice) => {
    setRatioChoice(choice);
    // A fixed ratio may lack the chosen tier (Auto is 1K only, 1:1 has no 4K): step down to one it has.
    if (choice !== 'from-frame' && !tiersFor(choice).includes(tier)) setTier(effectiveTier(choice, tier));
  };
  const chooseTier = (next: Tier) => {
    tierTouched.current = true;
    setTier(next);
  };

  const jobs = planJobs(targets, ratioChoice, tier);
  const cost = planCost(jobs);
  const referenceCount = tray.length + (settings.useTargetAsReference && targets.length > 0 ? 1 : 0);
  const blockedBy = generateBlocker({
    prompt,
    jobs,
    referenceCount,
    cost,
    account,
    exporting: exporting !== undefined,
    loaded,
  });

  const generate = async () => {
    if (blockedBy !== undefined) return;
    const current = settingsRef.current;
    const trayIds = tray.map((t) => t.nodeId);
    const targetIds = current.useTargetAsReference ? targets.map((t) => t.id) : [];
    const ids = [...new Set([...trayIds, ...targetIds])];
    setNotice(undefined);
    const images = new Map<string, ExportedReference>();
    const missing: string[] = [];
    if (ids.length > 0) {
      setExporting({ done: 0, total: ids.length });
      for (let offset = 0; offset < ids.length; offset += MAX_REFERENCES) {
        const chunk = ids.slice(offset, offset + MAX_REFERENCES);
        const result = await exporter.request(chunk, current.referenceMaxEdge, (done) =>
          setExporting({ done: offset + done, total: ids.length }),
        );
        if (result.error) {
          // Nothing is sent to the proxy, so nothing is paid for: say why and leave Generate usable.
          setExporting(undefined);
          setTrayError(result.error);
          return;
        }
        for (const image of result.images) images.set(image.nodeId, image);
        missing.push(...result.missing);
      }
      setExporting(undefined);
    }
    if (missing.length > 0) {
      setNotice(`${missing.length} reference${missing.length === 1 ? '' : 's'} no longer in the file and left out.`);
    }
    for (const job of jobs) {
      const refIds = [...new Set([...trayIds, ...(current.useTargetAsReference && job.target ? [job.target.id] : [])])];
      const references = refIds
        .map((id) => images.get(id))
        .filter((image): image is ExportedReference => image !== undefined);
      void runner.start({
        proxyUrl: current.proxyUrl,
        targetId: job.target?.id ?? null,
        targetName: job.target?.name ?? 'New frame',
        referenceIds: references.map((r) => r.nodeId),
        request: {
          prompt: prompt.trim(),
          aspectRatio: job.ratio,
          resolution: job.tier,
          quality: current.quality,
          outputFormat: current.outputFormat,
          references: references.map((r) => ({ name: r.name, mime: r.mime, bytes: r.bytes })),
        },
      });
    }
  };
  const generateRef = useRef(generate);
  generateRef.current = generate;

  // ⌘/Ctrl+Enter generates from anywhere in the panel, the prompt included.
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key === 'Enter' && (event.metaKey || event.ctrlKey)) {
        event.preventDefault();
        void generateRef.current();
      }
    };
    window.addEventListener('keydown', onKeyDown);
    return () => window.removeEventListener('keydown', onKeyDown);
  }, []);

  return (
    <Container space="medium">
      <VerticalSpace space="small" />
      <PromptField value={prompt} onChange={setPrompt} />
      <VerticalSpace space="small" />
      <RatioPicker value={ratioChoice} ratios={ratioOptions(capabilities)} targets={targets} onChange={chooseRatio} />
      <VerticalSpace space="small" />
      <ResolutionPicker
        value={tier}
        ratioChoice={ratioChoice}
        targets={targets}
        suggested={suggested}
        capabilities={capabilities}
        onChange={chooseTier}
      />
      <VerticalSpace space="small" />
      <ReferenceTray
        tray={tray}
        thumbnails={thumbnails}
        selectionCount={selection.selectionCount}
        useTarget={settings.useTargetAsReference}
        onAdd={addSelection}
        onRemove={removeFromTray}
        onMove={moveInTray}
        onUseTargetChange={(value) => saveSettings({ ...settings, useTargetAsReference: value })}
      />
      {trayError && (
        <p role="alert" class="ff-alert">
          {trayError}
        </p>
      )}
      <VerticalSpace space="small" />
      <Divider />
      <VerticalSpace space="small" />
      <GenerateBar
        jobs={jobs}
        chosenTier={tier}
        summary={targetsSummary(targets)}
        unusable={selection.unusable}
        cost={cost}
        account={account}
        blockedBy={blockedBy}
        exporting={exporting}
        onGenerate={() => void generate()}
      />
      {connectionError && (
        <div class="ff-connection">
          <ErrorText error={connectionError} proxyUrl={settings.proxyUrl} />
          <button type="button" class="ff-text-button" onClick={() => void refreshAccount()}>
            Check again
          </button>
        </div>
      )}
      <p role="status" class="ff-muted">
        {notice ?? ''}
      </p>
      <JobList
        cards={cards}
        proxyUrl={settings.proxyUrl}
        onCancel={(key) => void runner.cancel(key)}
        onCancelAll={() => void runner.cancelAll()}
        onPlaceInNewFrame={(key) => runner.placeInNewFrame(key)}
        onDismiss={(key) => runner.dismiss(key)}
      />
      <VerticalSpace space="small" />
      <Divider />
      <SettingsPanel
        settings={settings}
        open={settingsOpen}
        onToggle={() => setSettingsOpen(!settingsOpen)}
        onSave={saveSettings}
        allowedOrigins={allowedOrigins}
      />
      <VerticalSpace space="medium" />
    </Container>
  );
}

/** Why Generate is off, in the user's words; `undefined` when it is on. */
export function generateBlocker(input: {
  prompt: string;
  jobs: ReturnType<typeof planJobs>;
  referenceCount: number;
  cost: number;
  account: Account | undefined;
  exporting: boolean;
  loaded: boolean;
}): string | undefined {
  if (!input.loaded) return 'Loading your settings…';
  if (input.exporting) return 'Exporting the references…';
  for (const job of input.jobs) {
    const invalid = validateGeneration({
      prompt: input.prompt,
      aspectRatio: job.ratio,
      resolution: job.tier,
      referenceCount: input.referenceCount,
    });
    if (invalid) return invalid.message;
  }
  if (input.account && input.account.balance_credits < input.cost) {
    return `Not enough credits: this batch costs ${input.cost} and the balance is ${input.account.balance_credits}. Ask your admin for more, or pick a lower resolution.`;
  }
  return undefined;
}

function imageUrl(image: ExportedReference): string {
  return URL.createObjectURL(new Blob([image.bytes], { type: image.mime }));
}
