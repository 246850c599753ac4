// The list "References": pinned nodes with thumbnails, reorder and Remove as icon buttons, the add button,
// the count `n / 16`, and the "Use target as reference" checkbox.
import { Button, Checkbox, IconArrowDown16, IconArrowUp16, IconButton, IconCross32 } from '@create-figma-plugin/ui';
import { MAX_REFERENCES } from '../../core/limits';
import type { TrayItem } from '../../core/messages';

export interface Thumbnail {
  url?: string;
  missing?: boolean;
}

export function ReferenceTray(props: {
  tray: readonly TrayItem[];
  thumbnails: ReadonlyMap<string, Thumbnail>;
  selectionCount: number;
  useTarget: boolean;
  onAdd: () => void;
  onRemove: (nodeId: string) => void;
  onMove: (nodeId: string, delta: -1 | 1) => void;
  onUseTargetChange: (value: boolean) => void;
}) {
  const { tray } = props;
  return (
    <section class="ff-section" aria-labelledby="ff-refs-label">
      <div class="ff-row">
        <span class="ff-heading">
          <h3 class="ff-label" id="ff-refs-label">
            References
          </h3>
          <span class="ff-count">
            {tray.length} / {MAX_REFERENCES}
          </span>
        </span>
        <Button secondary onClick={props.onAdd} disabled={props.selectionCount === 0}>
          Add selection as references
        </Button>
      </div>
      {tray.length === 0 ? (
        <p class="ff-muted">None yet: select layers and add them, or generate from the prompt alone.</p>
      ) : (
        <ol class="ff-tray" aria-labelledby="ff-refs-label">
          {tray.map((item, index) => {
            const thumb = props.thumbnails.get(item.nodeId);
            return (
              <li key={item.nodeId} class="ff-tray-item">
                <span class="ff-thumb">{thumb?.url && <img src={thumb.url} alt="" />}</span>
                <span class="ff-tray-name" title={item.name}>
                  {index + 1}. {item.name}
                  {thumb?.missing && <span class="ff-error-text"> (no longer in the file)</span>}
                </span>
                <span class="ff-icon-buttons">
                  <IconButton
                    aria-label="Move up"
                    title={`Move ${item.name} up`}
                    disabled={index === 0}
                    onClick={() => props.onMove(item.nodeId, -1)}
                  >
                    <IconArrowUp16 />
                  </IconButton>
                  <IconButton
                    aria-label="Move down"
                    title={`Move ${item.name} down`}
                    disabled={index === tray.length - 1}
                    onClick={() => props.onMove(item.nodeId, 1)}
                  >
                    <IconArrowDown16 />
                  </IconButton>
                  <IconButton
                    aria-label="Remove"
                    title={`Remove ${item.name}`}
                    onClick={() => props.onRemove(item.nodeId)}
                  >
                    <IconCross32 />
                  </IconButton>
                </span>
              </li>
            );
          })}
        </ol>
      )}
      <Checkbox value={props.useTarget} onValueChange={props.onUseTargetChange}>
        <span>Use target as reference</span>
      </Checkbox>
    </section>
  );
}
