// The Framefill panel at Figma's plugin size: the prompt on top, the choices in the middle (scrolling when
// they must), and a fixed bottom with the running jobs and a footer holding the cost, the balance and Generate.
// State lives here; the proxy client, the job runner and the exporter do the work.
import { Divider } from '@create-figma-plugin/ui';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Account, Capabilities, Job } from '../core/api';
import type { Quality, Tier } from '../core/formats';
import { MAX_REFERENCES, PROMPT_MAX_CHARS } from '../core/limits';
import { DEFAULT_SETTINGS, type MainToPanelPayload, type Settings, type TrayItem } from '../core/messages';
import { DEFAULT_QUALITY } from '../core/pricing';
import { validateGeneration, validateMask } from '../core/validate';
import type { Bridge } from './bridge';
import { ErrorText } from './components/ErrorText';
import { type Blocker, Footer, type SecondJobQuestion } from './components/Footer';
import { HistoryView } from './components/HistoryView';
import { JobStrip } from './components/JobStrip';
import { PromptField } from './components/PromptField';
import { RatioPicker } from './components/RatioPicker';
import { ReferenceTray, type Thumbnail } from './components/ReferenceTray';
import { ResolutionPicker } from './components/ResolutionPicker';
import { Segmented } from './components/Segmented';
import { SettingsPanel } from './components/SettingsPanel';
import { TargetList } from './components/TargetList';
import { VariationsPicker } from './components/VariationsPicker';
import { WindowResize } from './components/WindowResize';
import type { ShownError } from './errors';
import { type ExportedReference, Exporter } from './exporter';
import { historyImageError, historyProvenance, imageAt } from './history';
import { isActive, type JobCard, JobRunner, variationFileName } from './jobs';
import { renderMask } from './mask';
import {
  downloadName,
  expansions,
  type Mode,
  modeNote,
  modeRatios,
  modesFor,
  type PlannedJob,
  planCost,
  planJobs,
  planModeJobs,
  priceTableOf,
  qualityOptions,
  type RatioChoice,
  ratioOptions,
  regionTarget,
  suggestedTier,
  targetsSummary,
  tierOptions,
} from './plan';
import { ProxyClient, toApiError } from './proxy-client';

/** Long edge of a tray thumbnail: small, so exporting a full tray stays quick. */
export const THUMBNAIL_EDGE = 96;

/** How long the prompt rests before it is saved: a save is one message to the main thread. */
const FORM_SAVE_DELAY_MS = 400;
/** How often an unreachable proxy is asked again, so the banner clears itself when it is back. */
const RECHECK_MS = 5000;

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
  const [capabilities, setCapabilities] = useState<Capabilities>();
  const [account, setAccount] = useState<Account>();
  const [connectionError, setConnectionError] = useState<ShownError>();
  const [notice, setNotice] = useState<string>();
  const [trayError, setTrayError] = useState<string>();
  const [exporting, setExporting] = useState<{ done: number; total: number }>();
  const [sending, setSending] = useState(false);
  const [question, setQuestion] = useState<SecondJobQuestion>();
  const [thumbnails, setThumbnails] = useState<Map<string, Thumbnail>>(new Map());
  const [cards, setCards] = useState<JobCard[]>([]);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [modeChoice, setModeChoice] = useState<Mode>('generate');
  /** Set by Regenerate on an edited image: the original image and mask shapes to edit again. */
  const [relaunchEdit, setRelaunchEdit] = useState<{
    targetId: string;
    kind: Mode;
    originalHash?: string;
    shapeIds?: string[];
  }>();
  const [historyOpen, setHistoryOpen] = useState(false);
  /** Placements asked from History, by request id: their answers become a notice, not a job card. */
  const historyPlaces = useRef(new Set<string>());

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
      // The token field is where the fix goes; the form above stays exactly as it was.
      if (apiError.code === 'unauthorized') setSettingsOpen(true);
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
        const stored = payload.settings;
        setSettings(stored);
        settingsRef.current = stored;
        setTray(payload.tray);
        if (payload.notice) setNotice(payload.notice);
        // The form as the designer left it: the price is theirs, never a suggestion's.
        setPrompt(stored.prompt);
        setRatioChoice(stored.ratio);
        setTier(stored.tier);
        if (payload.relaunch) {
          const { provenance } = payload.relaunch;
          setPrompt(provenance.prompt);
          setRatioChoice(provenance.aspectRatio);
          setTier(provenance.resolution);
          if (provenance.kind && provenance.kind !== 'generate') {
            setModeChoice(provenance.kind);
            setRelaunchEdit({
              targetId: payload.relaunch.targetId,
              kind: provenance.kind,
              ...(provenance.originalHash ? { originalHash: provenance.originalHash } : {}),
              ...(provenance.maskShapeIds ? { shapeIds: provenance.maskShapeIds } : {}),
            });
          }
        }
        setLoaded(true);
        if (payload.pendingJobs.length > 0) runner.resume(payload.pendingJobs);
      },
      SELECTION_CHANGED: setSelection,
      REFERENCE_EXPORTED: (payload) => exporter.onExported(payload),
      REFERENCES_EXPORTED: (payload) => exporter.onDone(payload),
      EDIT_EXPORTED: (payload) => exporter.onEditExported(payload),
      IMAGE_PLACED: (payload) => {
        if (historyPlaces.current.delete(payload.requestId)) {
          setNotice(payload.createdFrame ? 'Placed from History in a new frame.' : 'Placed from History.');
        } else runner.onImagePlaced(payload);
      },
      LAYER_VARIATION: (payload) => runner.onLayerVariation(payload),
      PLACE_FAILED: (payload) => {
        if (historyPlaces.current.delete(payload.requestId)) setNotice(payload.message);
        else runner.onPlaceFailed(payload);
      },
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

  useEffect(() => {
    if (connectionError?.code !== 'proxy_unreachable') return;
    const timer = setInterval(() => void refreshAccount(), RECHECK_MS);
    return () => clearInterval(timer);
  }, [connectionError, refreshAccount]);

  // The prompt, ratio and tier are kept with the settings, so a closed panel reopens as it was left.
  const formPrompt = useRef(prompt);
  const formRatio = useRef(ratioChoice);
  const formTier = useRef(tier);
  formPrompt.current = prompt;
  formRatio.current = ratioChoice;
  formTier.current = tier;
  const saveForm = useCallback(() => {
    const current = settingsRef.current;
    const next: Settings = {
      ...current,
      prompt: formPrompt.current.slice(0, PROMPT_MAX_CHARS * 2),
      ratio: formRatio.current,
      tier: formTier.current,
    };
    if (next.prompt === current.prompt && next.ratio === current.ratio && next.tier === current.tier) return;
    settingsRef.current = next;
    setSettings(next);
    bridge.send('SAVE_STORAGE', { settings: next });
  }, [bridge]);
  useEffect(() => {
    if (!loaded) return;
    const timer = setTimeout(saveForm, FORM_SAVE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [loaded, prompt, ratioChoice, tier, saveForm]);
  useEffect(() => {
    if (!loaded) return;
    // Figma removes the iframe when the plugin closes; a save still waiting for its delay goes now.
    window.addEventListener('pagehide', saveForm);
    return () => window.removeEventListener('pagehide', saveForm);
  }, [loaded, saveForm]);

  const resizeWindow = useCallback(
    ({ width, height }: { width: number; height: number }) =>
      bridge.send('RESIZE', { width: Math.round(width), height: Math.round(height) }),
    [bridge],
  );

  const { targets } = selection;
  // Regenerate's edit applies while the relaunched frame alone is selected.
  const relaunched =
    relaunchEdit && targets.length === 1 && targets[0]?.id === relaunchEdit.targetId ? relaunchEdit : undefined;
  const modes = modesFor(targets, relaunched?.kind);
  const mode: Mode = modes.includes(modeChoice) ? modeChoice : 'generate';
  // Shapes drawn over an image say what the designer means: the panel offers the edit first.
  const regionId = regionTarget(targets)?.id;
  useEffect(() => {
    if (regionId) setModeChoice('edit');
  }, [regionId]);

  // Thumbnails for tray items not seen yet, exported small.
  const asked = useRef(new Set<string>());
  useEffect(() => {
    const wanted = tray.map((t) => t.nodeId).filter((id) => !asked.current.has(id));
    if (!loaded || wanted.length === 0) return;
    for (const id of wanted) asked.current.add(id);
    void exporter.request(wanted, THUMBNAIL_EDGE).then(({ images, missing }) => {
      // A reference removed while its thumbnail was on its way gets no blob: URL (nothing would revoke it).
      const kept = images.filter((image) => asked.current.has(image.nodeId));
      setThumbnails((previous) => {
        const next = new Map(previous);
        for (const image of kept) next.set(image.nodeId, { url: imageUrl(image) });
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
    // Its thumbnail's blob: URL goes with it; added again, the layer is exported afresh (it may have changed).
    asked.current.delete(nodeId);
    const url = thumbnails.get(nodeId)?.url;
    if (url) URL.revokeObjectURL(url);
    setThumbnails((previous) => {
      const next = new Map(previous);
      next.delete(nodeId);
      return next;
    });
  };
  const moveInTray = (nodeId: string, delta: -1 | 1) => {
    const from = tray.findIndex((t) => t.nodeId === nodeId);
    const to = from + delta;
    if (from < 0 || to < 0 || to >= tray.length) return;
    const next = [...tray];
    [next[from], next[to]] = [next[to] as TrayItem, next[from] as TrayItem];
    saveTray(next);
  };
  const saveSettings = (next: Settings, quietly = false) => {
    const merged = { ...next, prompt: formPrompt.current.slice(0, PROMPT_MAX_CHARS * 2), ratio: ratioChoice, tier };
    settingsRef.current = merged;
    setSettings(merged);
    bridge.send('SAVE_STORAGE', { settings: merged });
    if (!quietly) setNotice('Settings saved.');
  };

  // Settings restarts its fields from these when they change: not on every saved keystroke of the prompt.
  const settingsShown = useMemo(
    () => settings,
    [
      settings.proxyUrl,
      settings.token,
      settings.quality,
      settings.outputFormat,
      settings.referenceMaxEdge,
      settings.density,
      settings.useTargetAsReference,
    ],
  );
  const qualities = qualityOptions(capabilities);
  const quality: Quality = qualities.includes(settings.quality)
    ? settings.quality
    : qualities.includes(DEFAULT_QUALITY)
      ? DEFAULT_QUALITY
      : (qualities[0] ?? DEFAULT_QUALITY);
  const pricing = { quality, prices: priceTableOf(capabilities) };
  const variations = settings.variations;
  const jobs =
    mode === 'generate'
      ? planJobs(targets, ratioChoice, tier, pricing, variations)
      : planModeJobs(mode, targets, tier, pricing, relaunched?.kind, variations);
  const cost = planCost(jobs);
  // Edit and Expand have their own ratios: the hidden Aspect ratio control must not decide their Resolution choices.
  const ratioPlan =
    mode === 'generate' ? { targets, choice: ratioChoice } : modeRatios(mode, targets, relaunched?.kind);
  const tiers = tierOptions(ratioPlan.targets, ratioPlan.choice, capabilities);
  const suggested = suggestedTier(ratioPlan.targets, ratioPlan.choice, settings.density);
  const referenceCount =
    mode === 'generate' ? tray.length + (settings.useTargetAsReference && targets.length > 0 ? 1 : 0) : 1 + tray.length;
  const blockedBy = generateBlocker({
    prompt,
    jobs,
    variations,
    referenceCount,
    cost,
    account,
    exporting: exporting !== undefined,
    sending,
    loaded,
  });

  /** One submission at a time: a double click or a second ⌘/Ctrl+Enter meets this lock and does nothing. */
  const submitting = useRef(false);
  const generate = async (secondJobConfirmed = false) => {
    if (submitting.current || blockedBy !== undefined) return;
    const busy = runner.busyTargetIds();
    const clashing = jobs.filter((job) => job.target !== null && busy.has(job.target.id));
    if (clashing.length > 0 && !secondJobConfirmed) {
      setQuestion({ names: clashing.map((job) => job.target?.name ?? ''), images: jobs.length, cost });
      return;
    }
    setQuestion(undefined);
    submitting.current = true;
    setSending(true);
    try {
      await submitBatch();
    } finally {
      submitting.current = false;
      setSending(false);
    }
  };

  const submitBatch = async () => {
    if (mode !== 'generate') return submitEdits(mode);
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
    await Promise.all(
      jobs.map((job) => {
        const refIds = [
          ...new Set([...trayIds, ...(current.useTargetAsReference && job.target ? [job.target.id] : [])]),
        ];
        const references = refIds
          .map((id) => images.get(id))
          .filter((image): image is ExportedReference => image !== undefined);
        return runner.start({
          proxyUrl: current.proxyUrl,
          targetId: job.target?.id ?? null,
          targetName: job.target?.name ?? 'New frame',
          referenceIds: references.map((r) => r.nodeId),
          plannedCost: job.cost,
          request: {
            prompt: prompt.trim(),
            aspectRatio: job.ratio,
            resolution: job.tier,
            quality,
            outputFormat: current.outputFormat,
            references: references.map((r) => ({ name: r.name, mime: r.mime, bytes: r.bytes })),
            n: job.count,
          },
        });
      }),
    );
  };
  /**
   * An edit or expansion per planned job: main hands over the target's image (and, for an edit, the shapes
   * drawn over it); the panel draws the mask, checks it as the proxy will, and sends the image first. The result
   * comes back as PNG, so the pixels kept outside the mask stay exactly the original's.
   */
  const submitEdits = async (editMode: Exclude<Mode, 'generate'>) => {
    const current = settingsRef.current;
    setNotice(undefined);
    setTrayError(undefined);
    const trayIds = tray.map((t) => t.nodeId);
    const extra = trayIds.length > 0 ? await exporter.request(trayIds, current.referenceMaxEdge) : { images: [] };
    if ('error' in extra && extra.error) {
      // Nothing is sent, so nothing is paid for.
      setTrayError(extra.error);
      return;
    }
    const sources = new Map(expansions(targets, relaunched?.kind === 'expand').map((e) => [e.target.id, e.sourceId]));
    for (const job of jobs) {
      const target = job.target;
      if (!target) continue;
      // An expansion may take another frame's image (one hero into every selected frame).
      const sourceId = editMode === 'expand' ? (sources.get(target.id) ?? target.id) : target.id;
      const answer = await exporter.requestEdit({
        targetId: sourceId,
        mode: editMode,
        ...(relaunched?.originalHash ? { originalHash: relaunched.originalHash } : {}),
        ...(relaunched?.shapeIds ? { shapeIds: relaunched.shapeIds } : {}),
      });
      if (!answer.image || !answer.frame || answer.error) {
        setTrayError(answer.error ?? `Framefill could not read the image of “${target.name}”.`);
        return;
      }
      const image = answer.image;
      let mask: Uint8Array<ArrayBuffer> | undefined;
      if (editMode === 'edit') {
        try {
          mask = await renderMask(image, answer.frame, answer.shapes);
        } catch (error) {
          setTrayError(`The mask could not be drawn (${String(error)}). Try again.`);
          return;
        }
        const problem = validateMask({ mask, image });
        if (problem) {
          setTrayError(problem.message);
          return;
        }
      }
      await runner.start({
        proxyUrl: current.proxyUrl,
        targetId: target.id,
        targetName: target.name,
        referenceIds: extra.images.map((r) => r.nodeId),
        plannedCost: job.cost,
        edit: {
          kind: editMode,
          originalHash: image.hash,
          ...(editMode === 'edit' ? { maskShapeIds: answer.shapes.map((shape) => shape.id) } : {}),
        },
        request: {
          prompt: prompt.trim(),
          aspectRatio: job.ratio,
          resolution: job.tier,
          quality,
          outputFormat: 'png',
          mode: editMode,
          ...(mask ? { mask } : {}),
          n: job.count,
          references: [
            { name: target.name, mime: image.mime, bytes: image.bytes as Uint8Array<ArrayBuffer> },
            ...extra.images.map((r) => ({ name: r.name, mime: r.mime, bytes: r.bytes })),
          ],
        },
      });
    }
  };
  const historyClient = clientFor(settings.proxyUrl, settings.token);
  const onlyTarget = targets.length === 1 ? targets[0] : undefined;
  /** Says why History got no image; 'removed' lets the entry read as removed. */
  const historyImageFailed = (error: unknown): 'removed' | undefined => {
    const apiError = toApiError(error);
    const failed = historyImageError({ code: apiError.code, message: apiError.message }, historyClient.baseUrl);
    setNotice(failed.sentence);
    return failed.removed ? 'removed' : undefined;
  };
  const placeFromHistory = async (job: Job, index: number): Promise<'removed' | undefined> => {
    const chosen = imageAt(job, index);
    if (!chosen) return;
    try {
      const image = await historyClient.getImage(job.id, undefined, chosen.index);
      const requestId = `history-${job.id}-${Date.now()}`;
      historyPlaces.current.add(requestId);
      bridge.send('PLACE_IMAGE', {
        requestId,
        targetId: onlyTarget?.id ?? null,
        bytes: image.bytes,
        width: chosen.width,
        height: chosen.height,
        provenance: historyProvenance(job, chosen.index),
        again: true,
      });
    } catch (error) {
      return historyImageFailed(error);
    }
  };
  const reuseFromHistory = (job: Job) => {
    if (!job.prompt) return;
    setPrompt(job.prompt);
    setRatioChoice(job.aspect_ratio);
    setTier(job.resolution);
    saveSettings({ ...settingsRef.current, quality: job.quality, variations: job.n ?? 1 }, true);
    setNotice('Prompt and settings from History: change what you like, then Generate.');
  };
  const downloadFromHistory = async (job: Job, index: number): Promise<'removed' | undefined> => {
    const chosen = imageAt(job, index);
    if (!chosen) return;
    try {
      const image = await historyClient.getImage(job.id, undefined, chosen.index);
      const url = URL.createObjectURL(new Blob([image.bytes], { type: image.mime }));
      const link = document.createElement('a');
      link.href = url;
      link.download = variationFileName(
        downloadName(job.prompt ?? '', chosen.width, chosen.height, image.mime),
        chosen.index,
      );
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      return historyImageFailed(error);
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
    <div class="ff-panel">
      <WindowResize onResize={resizeWindow} />
      <div class="ff-top">
        <PromptField value={prompt} onChange={setPrompt} onBlur={saveForm} />
      </div>
      <div class="ff-middle">
        {modes.length > 1 && (
          <Segmented
            id="ff-mode"
            label="Mode"
            options={modes.map((value) => ({ value, children: value[0]?.toUpperCase() + value.slice(1) }))}
            value={mode}
            onChange={(value) => setModeChoice(value as Mode)}
          />
        )}
        {modeNote(mode, targets, relaunched?.kind) && (
          <p class="ff-muted ff-mode-note">{modeNote(mode, targets, relaunched?.kind)}</p>
        )}
        {mode === 'generate' && (
          <RatioPicker value={ratioChoice} ratios={ratioOptions(capabilities)} onChange={setRatioChoice} />
        )}
        <ResolutionPicker
          tier={tier}
          tiers={tiers}
          suggested={suggested}
          quality={quality}
          qualities={qualities}
          onTierChange={setTier}
          onQualityChange={(next) => saveSettings({ ...settingsRef.current, quality: next }, true)}
        />
        <VariationsPicker
          value={variations}
          onChange={(next) => saveSettings({ ...settingsRef.current, variations: next }, true)}
        />
        <TargetList
          jobs={jobs}
          chosenTier={tier}
          summary={targetsSummary(jobs)}
          capabilities={capabilities}
          unusable={selection.unusable}
        />
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
        <Divider />
        <HistoryView
          open={historyOpen}
          onToggle={() => setHistoryOpen(!historyOpen)}
          client={historyClient}
          targetName={onlyTarget?.name}
          onPlace={placeFromHistory}
          onReuse={reuseFromHistory}
          onDownload={downloadFromHistory}
          refreshKey={cards.filter((card) => !isActive(card)).length}
        />
        <SettingsPanel
          settings={settingsShown}
          open={settingsOpen}
          onToggle={() => setSettingsOpen(!settingsOpen)}
          onSave={saveSettings}
          allowedOrigins={allowedOrigins}
        />
      </div>
      <div class="ff-bottom">
        <JobStrip
          cards={cards}
          refundsStarted={capabilities?.cancel_refund === 'started'}
          onCancel={(key) => void runner.cancel(key)}
          onCancelAll={() => void runner.cancelAll()}
          onRetry={(key) => void runner.retry(key)}
          onPlaceInNewFrame={(key) => runner.placeInNewFrame(key)}
          onDismiss={(key) => runner.dismiss(key)}
          onDismissFinished={() => runner.dismissFinished()}
          onSwap={(key, index) => runner.swap(key, index)}
          onEmptied={() => document.getElementById('ff-prompt')?.focus()}
        />
        {connectionError && (
          <div class="ff-connection">
            <ErrorText error={connectionError} proxyUrl={settings.proxyUrl} />
            <button type="button" class="ff-text-button" onClick={() => void refreshAccount()}>
              Check again
            </button>
          </div>
        )}
        <p role="status" class="ff-muted ff-notice">
          {notice ?? ''}
        </p>
        <Footer
          cost={cost}
          account={account}
          blockedBy={blockedBy}
          exporting={exporting}
          question={question}
          onGenerate={() => void generate()}
          onConfirmSecond={() => void generate(true)}
          onDeclineSecond={() => setQuestion(undefined)}
          verb={mode === 'edit' ? 'Edit' : mode === 'expand' ? 'Expand' : 'Generate'}
        />
      </div>
    </div>
  );
}

/** Why Generate is off, in the user's words; `undefined` when it is on. */
export function generateBlocker(input: {
  prompt: string;
  jobs: readonly PlannedJob[];
  /** Variations per target; one when absent. */
  variations?: number;
  referenceCount: number;
  cost: number;
  account: Account | undefined;
  exporting: boolean;
  sending: boolean;
  loaded: boolean;
}): Blocker | undefined {
  if (!input.loaded) return { message: 'Loading your settings…', hint: true };
  if (input.exporting) return { message: 'Exporting the references…', hint: true };
  if (input.sending) return { message: 'Sending to the proxy…', hint: true };
  for (const job of input.jobs) {
    const invalid = validateGeneration({
      prompt: input.prompt,
      aspectRatio: job.ratio,
      resolution: job.tier,
      referenceCount: input.referenceCount,
      variations: input.variations,
    });
    // An empty prompt is where everyone starts, not a mistake.
    if (invalid) return { message: invalid.message, hint: invalid.code === 'prompt_empty' };
  }
  if (input.account && input.account.balance_credits < input.cost) {
    return {
      // Several variations multiply the price: fewer is the first thing to try, as the proxy's 402 says.
      message: `Not enough credits: this batch costs ${input.cost} and the balance is ${input.account.balance_credits}. Ask your admin for more, or ${(input.variations ?? 1) > 1 ? 'choose fewer variations,' : 'pick'} a lower resolution or quality.`,
      hint: false,
    };
  }
  return undefined;
}

function imageUrl(image: ExportedReference): string {
  return URL.createObjectURL(new Blob([image.bytes], { type: image.mime }));
}
