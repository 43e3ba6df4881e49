// Test data shared by the store tests.
import type { BatchMessage, FlowPage, Summary } from "../api/types";

export function sum(id: number, over: Partial<Summary> = {}): Summary {
  return {
    id,
    start: "2026-01-01T00:00:00Z",
    state: "done",
    method: "GET",
    url: `http://h${id % 3}.test/p/${id}`,
    scheme: "http",
    host: `h${id % 3}.test`,
    path: `/p/${id}`,
    status: 200,
    contentType: "application/json",
    size: id * 10,
    duration: 100 - id,
    rules: [],
    error: "",
    ...over,
  };
}


/** A flows/batch message; the lists Go always sends default to empty. */
export function batch(b: Partial<BatchMessage> & { seq: number }): BatchMessage {
  return { type: "flows/batch", add: [], update: [], remove: [], ...b };
}

/** A GET /api/flows answer: a complete list of every session unless said. */
export function page(p: Partial<FlowPage> & Pick<FlowPage, "seq" | "flows" | "total">): FlowPage {
  return { complete: true, session: 0, ...p };
}
