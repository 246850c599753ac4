// Structured logs: one JSON line per request and per job transition. Never the OpenAI key, a token, an
// Authorization header or (unless FRAMEFILL_LOG_PROMPTS) a prompt — callers pass only safe fields.
export type LogLine = Record<string, string | number | boolean | null | undefined>;
export type Logger = (line: LogLine) => void;

export const stdoutLogger: Logger = (line) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
};

export const silentLogger: Logger = () => undefined;
