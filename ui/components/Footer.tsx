// The fixed footer: why Generate is off (a hint until something is wrong), the question before a second job
// for a busy target, the balance, and Generate with the batch's cost.
import { Button } from '@create-figma-plugin/ui';
import type { Account } from '../../core/api';

export interface Blocker {
  message: string;
  /** A hint (nothing was attempted yet, e.g. no prompt) is shown quietly; a problem in the error colour. */
  hint: boolean;
}

export interface SecondJobQuestion {
  /** The targets that already have a job running. */
  names: string[];
  /** How many images the batch makes, and what it costs. */
  images: number;
  cost: number;
}

function credits(n: number): string {
  return `${n} ${n === 1 ? 'credit' : 'credits'}`;
}

export function Footer(props: {
  cost: number;
  account: Account | undefined;
  blockedBy: Blocker | undefined;
  exporting: { done: number; total: number } | undefined;
  question: SecondJobQuestion | undefined;
  onGenerate: () => void;
  onConfirmSecond: () => void;
  onDeclineSecond: () => void;
  /** The button's verb: Generate, or Edit / Expand when the selection asks for one. */
  verb?: string;
}) {
  const { question } = props;
  return (
    <footer class="ff-footer">
      {question && (
        <fieldset class="ff-question" aria-labelledby="ff-second-job">
          <p id="ff-second-job" role="alert">
            {question.names.length === 1
              ? `${question.names[0]} already has a job running.`
              : `${question.names.join(', ')} already have jobs running.`}{' '}
            {question.images === question.names.length
              ? `Start another for ${credits(question.cost)}?`
              : `Generate all ${question.images} anyway, for ${credits(question.cost)}?`}
          </p>
          <div class="ff-row ff-actions">
            <Button onClick={props.onConfirmSecond}>Start another</Button>
            <Button secondary onClick={props.onDeclineSecond}>
              Keep the running one
            </Button>
          </div>
        </fieldset>
      )}
      {props.blockedBy && (
        <p id="ff-generate-reason" class={props.blockedBy.hint ? 'ff-muted' : 'ff-reason'}>
          {props.blockedBy.message}
        </p>
      )}
      {props.exporting && (
        <p role="status" class="ff-muted">
          Exporting {props.exporting.done} of {props.exporting.total}
        </p>
      )}
      <div class="ff-footer-row">
        <span class="ff-muted ff-balance" title={props.account ? `Account: ${props.account.name}` : undefined}>
          {props.account ? `Balance: ${props.account.balance_credits.toLocaleString('en-US')} credits` : ''}
        </span>
        <Button
          disabled={props.blockedBy !== undefined || question !== undefined}
          onClick={props.onGenerate}
          aria-describedby={props.blockedBy ? 'ff-generate-reason' : undefined}
          title="⌘/Ctrl + Enter"
        >
          {props.verb ?? 'Generate'} · {credits(props.cost)}
        </Button>
      </div>
    </footer>
  );
}
