// An error shown as one sentence with the next step, announced to screen readers (role="alert").
import { errorSentence, type ShownError } from '../errors';

export function ErrorText({ error, proxyUrl }: { error: ShownError; proxyUrl: string }) {
  return (
    <p role="alert" class="ff-alert" data-code={error.code}>
      {errorSentence(error, proxyUrl)}
    </p>
  );
}
