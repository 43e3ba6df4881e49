// What the detail pane says about where its flow is: in the list, hidden by
// the filter, in another session, or gone from the capture. And the list
// row of a flow the list does not hold, so its badges still show.

import type { Flow, SessionID, Summary } from "../api/types";
import { grpcStatusOf } from "./grpc";

/**
 * Presence of the selected flow: "listed" (the list holds it and follows
 * its changes), "hidden" (a filter is set and the flow does not match it),
 * "elsewhere" (another session than the one listed, or older than what the
 * list has loaded), "gone" (the capture no longer has it: deleted, cleared
 * or evicted by retention).
 */
export type Presence = "listed" | "hidden" | "elsewhere" | "gone";

export function presenceOf(o: { listed: boolean; gone: boolean; filter: string; session?: SessionID; listedSession: number }): Presence {
  if (o.gone) return "gone";
  if (o.listed) return "listed";
  if (o.listedSession > 0 && o.session !== undefined && o.session !== o.listedSession) return "elsewhere";
  if (o.filter.trim() !== "") return "hidden";
  return "elsewhere";
}

/**
 * followKey is what the detail pane compares, after each change of the
 * list, to decide whether to reload the selected flow: its row while the
 * list holds it (any change of the row), and while the list does not,
 * the snapshot it is missing from. A new snapshot (another filter or
 * session, a clear) may miss the flow because it is gone, not hidden:
 * the capture can be cleared before the list is fetched again, so the
 * flow is never seen leaving it, and only a reload tells.
 */
export function followKey(row: Summary | undefined, snapshot: number): string {
  return row ? "row " + JSON.stringify(row) : "missing from snapshot " + snapshot;
}

/** PRESENCE_NOTE is what the pane says for each presence but "listed". */
export const PRESENCE_NOTE: Record<Exclude<Presence, "listed">, string> = {
  hidden: "Hidden by the filter",
  elsewhere: "Not in the list shown",
  gone: "No longer in the capture",
};

/** summaryOf builds a flow's list row from its details (for a flow the list does not hold). */
export function summaryOf(f: Flow): Summary {
  let scheme = "",
    host = "",
    port: string | undefined,
    path = f.request.url;
  try {
    const u = new URL(f.request.url);
    scheme = u.protocol.replace(/:$/, "");
    host = u.hostname;
    port = u.port || undefined;
    path = u.pathname + u.search;
  } catch {
    // An imported flow may have no absolute URL: the path is the URL.
  }
  const grpc = grpcStatusOf(f.response);
  const s: Summary = {
    id: f.id,
    start: f.start,
    state: f.state,
    method: f.request.method,
    url: f.request.url,
    scheme,
    host,
    path,
    status: f.response?.status ?? 0,
    contentType: f.responseBody.contentType ?? "",
    size: f.responseBody.size,
    duration: f.end ? new Date(f.end).getTime() - new Date(f.start).getTime() : -1,
    rules: f.rules ?? [],
    error: f.error ?? "",
  };
  if (port) s.port = port;
  if (f.tunnel?.target) s.target = f.tunnel.target;
  if (f.overridden) s.overridden = f.overridden;
  if (f.websocket?.length || f.response?.status === 101) s.websocket = true;
  if (f.replayOf) s.replayOf = f.replayOf;
  if (f.imported) s.imported = true;
  if (f.kind) s.kind = f.kind;
  if (grpc) {
    s.grpcStatus = grpc.code;
    if (grpc.message) s.grpcMessage = grpc.message;
  }
  if (f.composed) s.composed = true;
  if (f.composedFrom) s.composedFrom = f.composedFrom;
  if (f.session !== undefined) s.session = f.session;
  return s;
}
