// RadioButtons spreads unknown props onto each <input>, but types them as <div> attributes, which have
// no `name`; a shared name makes the options one group for the arrow keys and a single Tab stop.
export function radioName(name: string): Record<string, string> {
  return { name };
}
