// How every limit reads what it stored in KV.
/**
 * A stored value as JSON, or undefined when absent or malformed: every limit
 * reads a bad write as empty, to be overwritten, so it cannot lock a key out.
 */
export function storedJson(text: string | null): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
