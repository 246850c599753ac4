// Messages between the plugin main thread and the panel (DESIGN.md §9). On the wire each is the array
// `[NAME, payload]` (create-figma-plugin's convention); every payload is validated on arrival.
import { z } from 'zod';
import { AspectRatioSchema, GenerationModeSchema, OutputFormatSchema, QualitySchema, TierSchema } from './api';
import { ASPECT_RATIOS, FIXED_RATIOS } from './formats';
import {
  DEFAULT_DENSITY,
  DEFAULT_REFERENCE_MAX_EDGE,
  MAX_REFERENCE_MAX_EDGE,
  MAX_REFERENCES,
  MAX_VARIATIONS,
  MIN_REFERENCE_MAX_EDGE,
  NOTIFY_MAX_CHARS,
  PROMPT_MAX_CHARS,
} from './limits';
import { DEFAULT_QUALITY } from './pricing';

const Bytes = z.instanceof(Uint8Array);
const NodeId = z.string().min(1).max(200);
const RequestId = z.string().min(1).max(100);

/** The image a target's fill shows (its top visible IMAGE paint), as Figma keeps it. */
export const FillImageSchema = z.object({
  hash: z.string().min(1).max(200),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export type FillImage = z.infer<typeof FillImageSchema>;

/** At most this many shapes make one region: a mask drawn from more is unlikely to be meant. */
export const MAX_REGION_SHAPES = 50;

export const TargetSchema = z.object({
  id: NodeId,
  name: z.string(),
  width: z.number().positive(),
  height: z.number().positive(),
  ratio: z.enum(FIXED_RATIOS),
  cropFraction: z.number().min(0).max(1),
  suggestedTier: TierSchema,
  /** Its image fill, when it has one: what an edit or an expansion starts from. */
  image: FillImageSchema.optional(),
  /** Shapes drawn over its image (its children: rectangles, ellipses, vectors, boolean groups): a region edit. */
  regionShapeIds: z.array(NodeId).max(MAX_REGION_SHAPES).optional(),
});
export type Target = z.infer<typeof TargetSchema>;

/** A selected node that cannot take an image fill, with the reason shown to the user. */
export const UnusableNodeSchema = z.object({ id: NodeId, name: z.string(), type: z.string(), reason: z.string() });
export type UnusableNode = z.infer<typeof UnusableNodeSchema>;

export const ProvenanceSchema = z.object({
  prompt: z.string().max(PROMPT_MAX_CHARS * 2),
  aspectRatio: AspectRatioSchema,
  resolution: TierSchema,
  model: z.string().max(200),
  jobId: z.string().max(100),
  referenceIds: z.array(NodeId).max(MAX_REFERENCES),
  costCredits: z.number().int().nonnegative(),
  createdAt: z.iso.datetime(),
  /** What the job did; absent on images placed before edits existed (a generation). */
  kind: GenerationModeSchema.optional(),
  /** An edit's mask: the shapes whose union it was, so Regenerate repeats the same edit. */
  maskShapeIds: z.array(NodeId).max(MAX_REGION_SHAPES).optional(),
  /** The image an edit or expansion started from (its Figma image hash): Regenerate starts from it again. */
  originalHash: z.string().max(200).optional(),
  /** Which of the job's variations the layer shows (0 for the first); absent on single-image jobs. */
  variation: z.number().int().nonnegative().max(9).optional(),
});
export type Provenance = z.infer<typeof ProvenanceSchema>;

export const SettingsSchema = z.object({
  // Not z.url(): it needs the URL global, and Figma's plugin sandbox (where main validates every
  // SAVE_STORAGE) "does not expose browser APIs", so every save would be refused there.
  // https://developers.figma.com/docs/plugins/how-plugins-run
  proxyUrl: z
    .string()
    .max(2000)
    .regex(/^https?:\/\/[^\s/?#]+(\/[^\s]*)?$/i, 'Enter an http:// or https:// address')
    .default('http://localhost:8787'),
  token: z.string().max(500).default(''),
  quality: QualitySchema.default(DEFAULT_QUALITY),
  // JPEG, as the proxy's API: a 4K result of ~1.2 MB instead of ~13 MB, at above 40 dB (README "Output format").
  outputFormat: OutputFormatSchema.default('jpeg'),
  referenceMaxEdge: z
    .number()
    .int()
    .min(MIN_REFERENCE_MAX_EDGE)
    .max(MAX_REFERENCE_MAX_EDGE)
    .default(DEFAULT_REFERENCE_MAX_EDGE),
  density: z.number().min(0.5).max(4).default(DEFAULT_DENSITY),
  useTargetAsReference: z.boolean().default(false),
  // The form as the designer left it, so the next open starts from their own choices (1K the first time):
  // the price never changes without a choice of theirs.
  prompt: z
    .string()
    .max(PROMPT_MAX_CHARS * 2)
    .default(''),
  ratio: z.enum(['from-frame', ...ASPECT_RATIOS]).default('from-frame'),
  tier: TierSchema.default('1K'),
  /** Variations per target (1 … MAX_VARIATIONS): each is an image at the full price. */
  variations: z.number().int().min(1).max(MAX_VARIATIONS).default(1),
});
export type Settings = z.infer<typeof SettingsSchema>;
export const DEFAULT_SETTINGS: Settings = SettingsSchema.parse({});

export const TrayItemSchema = z.object({ nodeId: NodeId, name: z.string() });
export type TrayItem = z.infer<typeof TrayItemSchema>;
export const TraySchema = z.array(TrayItemSchema).max(MAX_REFERENCES);

/** A job accepted by the proxy whose image is not placed yet: kept so a reopened panel resumes it. */
export const PendingJobSchema = z.object({
  jobId: z.string().max(100),
  proxyUrl: z.string().max(2000),
  targetId: NodeId.nullable(),
  targetName: z.string(),
  provenance: ProvenanceSchema,
  /**
   * Left by a version that kept pending jobs per machine, not per file: the file it came from is unknown, so
   * the panel offers its image to place here or download, and never places it by itself.
   */
  fromAnotherFile: z.boolean().optional(),
});
export type PendingJob = z.infer<typeof PendingJobSchema>;
export const PendingJobsSchema = z.array(PendingJobSchema).max(500);

/** Jobs already placed (job id → node id), so a PLACE_IMAGE repeated after a panel closed mid-reply places once. */
export const PLACED_JOBS_REMEMBERED = 500;
export const PlacedJobsSchema = z
  .array(z.object({ jobId: z.string().max(100), nodeId: NodeId }))
  .max(PLACED_JOBS_REMEMBERED);
export type PlacedJob = z.infer<typeof PlacedJobsSchema>[number];

export const ExportedImageSchema = z.object({
  nodeId: NodeId,
  name: z.string(),
  mime: z.literal('image/png'),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  bytes: Bytes,
});
export type ExportedImage = z.infer<typeof ExportedImageSchema>;

/** One path of a shape's `fillGeometry` (https://developers.figma.com/docs/plugins/api/properties/nodes-fillgeometry). */
export const ShapePathSchema = z.object({
  windingRule: z.enum(['NONZERO', 'EVENODD', 'NONE']),
  data: z.string().max(200_000),
});

/**
 * A shape of a region, in its frame's coordinate space: its paths are in the shape's own space, placed by the
 * 2×3 affine `transform` (the shape's `relativeTransform` composed up to the frame).
 */
export const RegionShapeSchema = z.object({
  id: NodeId,
  name: z.string(),
  transform: z.tuple([z.tuple([z.number(), z.number(), z.number()]), z.tuple([z.number(), z.number(), z.number()])]),
  paths: z.array(ShapePathSchema).min(1).max(200),
});
export type RegionShape = z.infer<typeof RegionShapeSchema>;

export const EditSourceSchema = z.object({
  hash: z.string().min(1).max(200),
  mime: z.enum(['image/png', 'image/jpeg']),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  bytes: Bytes,
});
export type EditSource = z.infer<typeof EditSourceSchema>;

export const PLACE_FAILURE_CODES = ['image_too_large', 'invalid_image', 'target_locked', 'place_failed'] as const;
export type PlaceFailureCode = (typeof PLACE_FAILURE_CODES)[number];

/** main → panel */
export const MainToPanel = {
  SELECTION_CHANGED: z.object({
    targets: z.array(TargetSchema),
    unusable: z.array(UnusableNodeSchema),
    selectionCount: z.number().int().nonnegative(),
  }),
  REFERENCE_EXPORTED: z.object({
    requestId: RequestId,
    index: z.number().int().nonnegative(),
    total: z.number().int().positive(),
    image: ExportedImageSchema,
  }),
  REFERENCES_EXPORTED: z.object({
    requestId: RequestId,
    nodeIds: z.array(NodeId),
    missing: z.array(z.string()),
    /** Set when the request could not be carried out (refused or failed): a sentence for the user. */
    error: z.string().optional(),
  }),
  /**
   * The answer to EXPORT_EDIT: the target's image as Figma keeps it, the frame's size, and the region's shapes in
   * the frame's space (none for an expansion); `error` instead when there is nothing to edit.
   */
  EDIT_EXPORTED: z.object({
    requestId: RequestId,
    image: EditSourceSchema.optional(),
    frame: z.object({ width: z.number().positive(), height: z.number().positive() }).optional(),
    shapes: z.array(RegionShapeSchema).max(MAX_REGION_SHAPES),
    error: z.string().optional(),
  }),
  IMAGE_PLACED: z.object({ requestId: RequestId, nodeId: NodeId, createdFrame: z.boolean() }),
  /**
   * A layer that shows a Framefill job now shows this variation of it: told whenever its provenance changes (a
   * swap, or the designer's undo and redo), so the job's strip marks what the canvas shows.
   */
  LAYER_VARIATION: z.object({ nodeId: NodeId, jobId: z.string().max(100), variation: z.number().int().nonnegative() }),
  PLACE_FAILED: z.object({ requestId: RequestId, code: z.enum(PLACE_FAILURE_CODES), message: z.string() }),
  STORAGE_LOADED: z.object({
    settings: SettingsSchema,
    tray: TraySchema,
    pendingJobs: PendingJobsSchema,
    /** Set when the plugin was run from a node's Regenerate button: pre-fills the panel. */
    relaunch: z.object({ targetId: NodeId, provenance: ProvenanceSchema }).nullable(),
    /** Said once when stored data was corrupt and had to be reset. */
    notice: z.string().optional(),
  }),
} as const;

/** panel → main */
export const PanelToMain = {
  PANEL_READY: z.object({}),
  EXPORT_REFERENCES: z.object({
    requestId: RequestId,
    nodeIds: z.array(NodeId).min(1).max(MAX_REFERENCES),
    maxEdge: z.number().int().min(16).max(MAX_REFERENCE_MAX_EDGE),
  }),
  /**
   * The image of `targetId` for an edit (with its region's shapes) or an expansion; Regenerate names the original
   * image and the shapes its provenance recorded.
   */
  EXPORT_EDIT: z.object({
    requestId: RequestId,
    targetId: NodeId,
    mode: z.enum(['edit', 'expand']),
    originalHash: z.string().max(200).optional(),
    shapeIds: z.array(NodeId).max(MAX_REGION_SHAPES).optional(),
  }),
  PLACE_IMAGE: z.object({
    requestId: RequestId,
    targetId: NodeId.nullable(),
    bytes: Bytes,
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    provenance: ProvenanceSchema,
    /** Placed from History on purpose: placed again even where this job's image was placed before. */
    again: z.boolean().optional(),
  }),
  /**
   * Another variation of a placed job into the node that shows it: its image fill is replaced and the swap is one
   * undo step. Answered with IMAGE_PLACED or PLACE_FAILED.
   */
  SWAP_IMAGE: z.object({
    requestId: RequestId,
    nodeId: NodeId,
    bytes: Bytes,
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    provenance: ProvenanceSchema,
  }),
  SAVE_STORAGE: z.object({
    settings: SettingsSchema.optional(),
    tray: TraySchema.optional(),
    pendingJobs: PendingJobsSchema.optional(),
  }),
  NOTIFY: z.object({ message: z.string().max(NOTIFY_MAX_CHARS * 10), error: z.boolean().optional() }),
  RESIZE: z.object({ width: z.number().int().min(200).max(1200), height: z.number().int().min(200).max(1600) }),
} as const;

export type MainToPanelName = keyof typeof MainToPanel;
export type PanelToMainName = keyof typeof PanelToMain;
export type MainToPanelPayload<N extends MainToPanelName> = z.infer<(typeof MainToPanel)[N]>;
export type PanelToMainPayload<N extends PanelToMainName> = z.infer<(typeof PanelToMain)[N]>;

export type MessageOf<S extends Record<string, z.ZodType>> = {
  [N in keyof S & string]: { name: N; payload: z.infer<S[N]> };
}[keyof S & string];

export type ParsedMessage<S extends Record<string, z.ZodType>> =
  | { ok: true; message: MessageOf<S> }
  | { ok: false; reason: string };

/** Validates a raw `[NAME, payload]` against one direction's schemas; never throws. */
export function parseMessage<S extends Record<string, z.ZodType>>(schemas: S, raw: unknown): ParsedMessage<S> {
  if (!Array.isArray(raw) || raw.length !== 2 || typeof raw[0] !== 'string') {
    return { ok: false, reason: 'not a [NAME, payload] message' };
  }
  const [name, payload] = raw as [string, unknown];
  // Not Object.hasOwn (ES2022): the sandbox bundle keeps to ES2020's built-ins (test/plugin/quickjs.test.ts).
  if (!Object.keys(schemas).includes(name)) return { ok: false, reason: `unknown message ${name.slice(0, 60)}` };
  const result = (schemas[name] as z.ZodType).safeParse(payload);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { ok: false, reason: `invalid ${name}: ${where}${issue?.message ?? 'bad payload'}` };
  }
  return { ok: true, message: { name, payload: result.data } as MessageOf<S> };
}

/** Truncates a toast to what Figma's notify shows in full. */
export function notifyText(message: string): string {
  const chars = Array.from(message);
  return chars.length <= NOTIFY_MAX_CHARS ? message : `${chars.slice(0, NOTIFY_MAX_CHARS - 1).join('')}…`;
}
