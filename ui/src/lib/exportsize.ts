// How large an export will be, from what the dashboard already knows (the
// sessions' flow counts and bytes, the list's total), and whether to warn
// before downloading it.

import type { Session } from "../api/types";
import { fmtSize } from "./format";

/** Above either bound an export asks before downloading. */
export const WARN_BYTES = 100 * 1024 * 1024;
export const WARN_FLOWS = 100_000;

/** An export's expected size: flows for sure, bytes when known (an estimate for a filtered export). */
export interface Estimate {
  flows: number;
  bytes?: number;
}

/**
 * exportEstimate sizes an export of one session (listed > 0) or of every
 * session (listed 0), all of it or only the flows matching the filter
 * (matching: the list's total). A filtered export's bytes are the
 * session's bytes in proportion: a guess, but of the right order.
 */
export function exportEstimate(o: { listed: number; sessions: Session[]; matching?: number }): Estimate {
  const ss = o.listed > 0 ? o.sessions.filter((s) => s.id === o.listed) : o.sessions;
  const flows = ss.reduce((n, s) => n + s.flows, 0);
  const bytes = ss.reduce((n, s) => n + s.bytes, 0);
  if (ss.length === 0) return o.matching !== undefined ? { flows: o.matching } : { flows: 0 };
  if (o.matching === undefined) return { flows, bytes };
  return { flows: o.matching, bytes: flows > 0 ? Math.round((bytes * Math.min(o.matching, flows)) / flows) : 0 };
}

/** exportWarning says why an export is large, or null when it is not. */
export function exportWarning(e: Estimate): string | null {
  const big = e.flows > WARN_FLOWS || (e.bytes ?? 0) > WARN_BYTES;
  if (!big) return null;
  const size = e.bytes !== undefined ? `, about ${fmtSize(e.bytes)} of bodies` : "";
  return `A large export: ${e.flows.toLocaleString()} flows${size}. The file may take a while and a lot of disk space.`;
}
