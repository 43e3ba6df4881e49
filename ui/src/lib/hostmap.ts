// Host mapping rows as the settings panel edits them.

import type { HostMapEntry } from "../api/types";

/** The rows to save: trimmed, with fully empty rows dropped (a half-filled row is kept, for the server to name). */
export function cleanEntries(rows: HostMapEntry[]): HostMapEntry[] {
  return rows.map((r) => ({ host: r.host.trim(), to: r.to.trim() })).filter((r) => r.host !== "" || r.to !== "");
}

/** Whether two lists hold the same mappings in the same order. */
export function sameEntries(a: HostMapEntry[], b: HostMapEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => e.host === b[i].host && e.to === b[i].to);
}
