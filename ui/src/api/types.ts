// TypeScript twins of the Go types that cross to the browser.
// flow.Summary, flow.Flow and friends: proxy/flow/flow.go. rules.Rule: rules/rule.go.
// Keep the field names and optionality in step with the Go JSON tags.

/** Flow identifier: monotonic per run, a JSON number. */
export type FlowID = number;

export type FlowState = "pending" | "done" | "error";

/** One header line; a list keeps the order Loupe saw. */
export interface Field {
  name: string;
  value: string;
}

export interface Request {
  method: string;
  url: string;
  proto: string;
  headers: Field[] | null;
  /** Fields sent after the body; known once it ended. */
  trailers?: Field[] | null;
}

export interface Response {
  status: number;
  proto: string;
  headers: Field[] | null;
  /** Fields sent after the body (gRPC's grpc-status); known once it ended. */
  trailers?: Field[] | null;
}

export type Facet = "request" | "response" | "upstream";

export interface Body {
  size: number;
  captured: number;
  truncated: boolean;
  complete: boolean;
  encoding?: string;
  contentType?: string;
}

/** Milliseconds; -1 where a phase did not happen. ssl is inside connect. */
export interface Timings {
  blocked: number;
  dns: number;
  connect: number;
  ssl: number;
  send: number;
  wait: number;
  receive: number;
}

export interface WSMessage {
  type: "send" | "receive";
  time: string;
  opcode: number;
  size: number;
  /** base64 (Go []byte). */
  data: string | null;
  truncated?: boolean;
}

export type OverrideKind = "override" | "mock" | "block" | "";

/** flow.Kind: "" (absent) for an HTTP exchange, else a CONNECT recorded as itself. */
export type FlowKind = "" | "tunnel" | "tls-error";

export interface Flow {
  id: FlowID;
  start: string;
  end?: string;
  client: string;
  state: FlowState;
  request: Request;
  /** Where a request inside a CONNECT tunnel went when its URL does not say it (flow.Tunnel). */
  tunnel?: Tunnel;
  /** Absent for an HTTP exchange; a tunnel's body sizes are its bytes each way (never captured). */
  kind?: FlowKind;
  upstreamRequest?: Request;
  upstreamResponse?: Response;
  response?: Response;
  requestBody: Body;
  responseBody: Body;
  upstreamBody?: Body;
  /** Why the original body of an overridden response is missing or cut. */
  upstreamNotKept?: string;
  timings: Timings;
  websocket?: WSMessage[];
  error?: string;
  rules?: string[];
  overridden?: OverrideKind;
  replayOf?: FlowID;
  imported?: boolean;
  /** What a breakpoint did to the flow (flow.Breakpoint); absent when none matched. */
  breakpoint?: Breakpoint;
}

/** flow.Breakpoint (proxy/flow/breakpoint.go). The messages stay where they always are:
 * the request as received in `request`, as sent (an edit included) in `upstreamRequest`,
 * the origin's response in `upstreamResponse` (its body as the upstream facet when an edit
 * replaced it), the response as served in `response`. */
export interface Breakpoint {
  /** ID of the rule whose breakpoint matched. */
  rule: string;
  /** Why it did not hold the flow ("no dashboard connected", "breakpoint skipped: 32 exchanges already held (-max-held)"). */
  skipped?: string;
  request?: BreakpointStop;
  response?: BreakpointStop;
}

export type ReleaseAction = "continue" | "execute" | "respond" | "abort";

/** flow.BreakpointStop: one phase held. */
export interface BreakpointStop {
  held: string;
  /** Absent while held. */
  released?: string;
  /** Absent while held. */
  action?: ReleaseAction;
  /** "dashboard", "timeout", "no dashboard", "shutdown", "kill", "client gone". */
  by?: string;
  /** Status answered by a respond, or by an abort that answered instead of closing. */
  status?: number;
  /** Header names Loupe set or removed itself when sending the edit (framing, dropped hop-by-hop fields). */
  changed?: string[];
  /** The body was past the breakpoint body cap (or still arriving): it went through unedited. */
  streamed?: boolean;
  /** The message as edited (execute, respond), its body cut at 64 KiB (truncated then set):
   * for a request, the one place that keeps the edited body. */
  edit?: HeldMessage;
}

/** flow.Message: a held message as listed, and the body of execute/respond. In an edit,
 * fields left out stay as they were; an empty headers list removes them all. */
export interface HeldMessage {
  method?: string;
  url?: string;
  status?: number;
  headers: Field[] | null;
  /** The body decoded (Content-Encoding undone) as text; bodyBase64 when it is not UTF-8. */
  body?: string;
  bodyBase64?: string;
  /** Only the start of the body: it cannot be edited and goes through as it is. */
  truncated?: boolean;
  /** held/update left the body out to stay small: GET /api/held/{id} has it. */
  bodyOmitted?: boolean;
}

/** flow.Held: GET /api/held and held/update. */
export interface Held {
  id: FlowID;
  phase: "request" | "response";
  rule: string;
  /** RFC 3339 with milliseconds, UTC. */
  heldAt: string;
  deadline: string;
  /** Time left until deadline when the list was made. */
  remainingMs: number;
  onTimeout: "continue" | "abort";
  /** The held request, or (response phase) the request as sent. */
  request: HeldMessage;
  /** Response phase only. */
  response?: HeldMessage;
}

/** flow.Tunnel */
export interface Tunnel {
  /** host:port the request was sent to (the CONNECT target), when not the URL's. */
  target?: string;
  /** TLS name verified upstream, when not the URL's host. */
  serverName?: string;
  /** Tunnel flows: "passthrough" or "opaque" (TLS relayed without a CA). */
  mode?: string;
  /** Tunnel and TLS-error flows: the server name of the client's ClientHello. */
  sni?: string;
  /** TLS-error flows: the alert the client sent ("unknown_ca", ...), or "closed", "not_tls", "timeout", "other". */
  failure?: string;
}

/** One row of the flow list (flow.Summary). */
export interface Summary {
  id: FlowID;
  start: string;
  state: FlowState;
  method: string;
  url: string;
  /** Flow.tunnel.target */
  target?: string;
  scheme: string;
  host: string;
  port?: string;
  path: string;
  status: number;
  contentType: string;
  size: number;
  /** ms; -1 while pending. */
  duration: number;
  rules: string[] | null;
  error: string;
  overridden?: OverrideKind;
  websocket?: boolean;
  replayOf?: FlowID;
  imported?: boolean;
  kind?: FlowKind;
  /** gRPC status code of a finished gRPC call (from its trailers, or a trailers-only answer). */
  grpcStatus?: number;
  grpcMessage?: string;
  /** Breakpoint.state: "held", "skipped", or the action that released it. */
  breakpoint?: "held" | "skipped" | ReleaseAction;
}

/** GET /api/flows */
export interface FlowPage {
  seq: number;
  flows: Summary[] | null;
  total: number;
}

// ---- rules (rules/rule.go) ----

export interface Match {
  methods?: string[];
  scheme?: string;
  host?: string;
  path?: string;
  url?: string;
  /** 1..65535: the URL's explicit port, else 80 (http, ws) or 443 (https, wss); absent = any. */
  port?: number;
}

export const ACTION_TYPES = [
  "override",
  "mock",
  "mapRemote",
  "setRequestHeaders",
  "removeRequestHeaders",
  "setResponseHeaders",
  "removeResponseHeaders",
  "delay",
  "throttle",
  "block",
] as const;

export type ActionType = (typeof ACTION_TYPES)[number];

export interface Action {
  type: ActionType | string;
  status?: number;
  headers?: Record<string, string>;
  names?: string[];
  body?: string;
  bodyBase64?: string;
  bodyFile?: string;
  dir?: string;
  url?: string;
  ms?: number;
  /** delay: request|response; breakpoint: request (default), response or both. */
  phase?: "request" | "response" | "both" | "";
  bytesPerSecond?: number;
  reset?: boolean;
  /** breakpoint: how long it holds before onTimeout applies (default 60000, max 1800000). */
  timeoutMs?: number;
  /** breakpoint: "continue" (default) or "abort". */
  onTimeout?: "continue" | "abort";
  /** breakpoint: the next N matches are held, then it stops; 0 or absent = every match. */
  hits?: number;
}

export interface Rule {
  id: string;
  name?: string;
  enabled: boolean;
  match: Match;
  actions: Action[];
}

/** A validation problem (rules.Problem); field like "actions[0].status". */
export interface Problem {
  ruleId: string;
  field: string;
  message: string;
}

// ---- websocket feed ----

export interface BatchMessage {
  type: "flows/batch";
  seq: number;
  add?: Summary[] | null;
  update?: Summary[] | null;
  remove?: FlowID[] | null;
}

export interface ResetMessage {
  type: "flows/reset";
  seq?: number;
}

export interface RulesMessage {
  type: "rules/update";
  rules?: Rule[];
}

export interface StateMessage {
  type: "state/update";
  state?: AppState;
}

/** The whole held list, after every change and on connect. */
export interface HeldUpdateMessage {
  type: "held/update";
  held: Held[];
}

export type FeedMessage = BatchMessage | ResetMessage | RulesMessage | StateMessage | HeldUpdateMessage;

/** Capture statistics (store.Stats, proxy/store/store.go). Optional: the UI shows what is there. */
export interface Stats {
  flows?: number;
  maxFlows?: number;
  paused?: boolean;
  bodyBytesRam?: number;
  ramBudget?: number;
  bodyBytesDisk?: number;
  diskBudget?: number;
  evicted?: number;
  truncated?: number;
  /** Overridden flows whose original body was not kept, or not whole. */
  upstreamNotKept?: number;
  [k: string]: number | boolean | undefined;
}

/** GET /api/state and state/update (web.State, web/state.go). */
export interface AppState {
  seq?: number;
  paused?: boolean;
  recording?: boolean;
  flows?: number;
  stats?: Stats;
  proxyAddr?: string;
  uiAddr?: string;
  caFingerprint?: string;
  clients?: number;
  process?: { heapBytes?: number; goroutines?: number };
  /** The proxy's client connections (connlimit.Stats, proxy/connlimit). */
  connections?: { open?: number; max?: number; refused?: number; idleClosed?: number };
}
