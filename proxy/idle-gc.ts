// One full, compacting garbage collection once the proxy falls idle after work. A burst of uploads leaves tens of
// MB of received chunks (freed only when V8 collects, which nothing prompts while idle) and half-empty old-space
// pages a plain collection keeps; bench/ §2 measures what is left after a burst.
import v8 from 'node:v8';
import vm from 'node:vm';

export interface IdleGc {
  /** Work started or ended (a request opened or closed): collect once the proxy has been idle `idleMs` since. */
  touch(): void;
  stop(): void;
}

/**
 * `busy()` says whether a request or job is still in flight; the collection waits until the proxy has been idle
 * for `idleMs` without a break, and runs once per busy spell. A collection at the first idle moment after a timer
 * would land in the short gaps between one client's jobs and slow the next one down (bench/ §1: it doubled the
 * proxy's CPU per job when jobs came 200 ms apart). `collect` is for tests; by default V8's own, compacting.
 */
export function idleGc(busy: () => boolean, idleMs = 1000, collect: () => void = compactingGc()): IdleGc {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastActive = 0;
  const arm = (ms: number) => {
    const armed = setTimeout(check, ms);
    // A number where the DOM lib is loaded too (the tests' project); on Node it is a Timeout.
    (armed as unknown as NodeJS.Timeout).unref();
    timer = armed;
  };
  const check = () => {
    timer = undefined;
    if (busy()) lastActive = Date.now();
    const idleFor = Date.now() - lastActive;
    if (idleFor < idleMs) arm(idleMs - idleFor);
    else collect();
  };
  return {
    touch() {
      lastActive = Date.now();
      if (!timer) arm(idleMs);
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * `gc` under --expose-gc, else the same function exposed in a fresh context (the flag adds it only to contexts
 * created after it is set: https://nodejs.org/api/v8.html#v8setflagsfromstringflags). A plain full collection
 * frees the objects but keeps fragmented old-space pages (~10 MB after a burst); compacting moves the survivors
 * off them, and the flag is read per collection, so it is on only around this one.
 */
function compactingGc(): () => void {
  const exposed = globalThis.gc;
  let collect: () => unknown;
  if (typeof exposed === 'function') collect = () => exposed();
  else {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  return () => {
    v8.setFlagsFromString('--compact-on-every-full-gc');
    try {
      collect();
    } finally {
      v8.setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}
