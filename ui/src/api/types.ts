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
  /** Written in the dashboard's editor (edit and send, pasted cURL), not sent by a client. */
  composed?: boolean;
  /** The flow the editor started from; absent for a request written from scratch. */
  composedFrom?: FlowID;
  imported?: boolean;
  /** The session the store keeps the flow in. */
  session?: SessionID;
  /** What a breakpoint did to the flow (flow.Breakpoint); absent when none matched. */
  breakpoint?: Breakpoint;
  /** The mark, colour and comment a person gave the flow; absent when none. */
  annotation?: Annotation;
}

/** flow.Color (proxy/flow/annotation.go); "" for none. */
export type Color = "red" | "orange" | "yellow" | "green" | "blue" | "purple";

/** flow.Annotation (proxy/flow/annotation.go): what a person added to a flow. */
export interface Annotation {
  marked?: boolean;
  color?: Color;
  /** At most 4096 bytes of UTF-8 (flow.MaxComment). */
  comment?: string;
}

/** The body of PATCH /api/flows/{id} (flow.AnnotationPatch): a field left out stays; "" clears a colour or comment. */
export interface AnnotationPatch {
  marked?: boolean;
  color?: Color | "";
  comment?: string;
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
  edit?: HeldEdit & { truncated?: boolean };
}

/** flow.Tunnel */
export interface Tunnel {
  /** host:port the request was sent to (the CONNECT target), when not the URL's. */
  target?: string;
  /** TLS name verified upstream, when not the URL's host. */
  serverName?: string;
  /** Tunnel flows: "passthrough", "opaque" (TLS relayed without a CA) or "raw" (neither TLS nor HTTP). */
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
  composed?: boolean;
  composedFrom?: FlowID;
  /** The session the store keeps the flow in. */
  session?: SessionID;
  /** Breakpoint.state: "held", "skipped", or the action that released it. */
  breakpoint?: "held" | "skipped" | ReleaseAction;
  /** Flow.annotation. */
  annotation?: Annotation;
}

/** GET /api/flows (web.flowList, web/flows.go). */
export interface FlowPage {
  seq: number;
  flows: Summary[] | null;
  total: number;
  /** Cursor of the next (older) page; absent on the last one. */
  next?: FlowID;
  /** False when part of the filter ran as a bounded scan that stopped before the oldest flow. */
  complete?: boolean;
  /** How many flows that scan examined. */
  scanned?: number;
  /** The session listed; 0 for every session. */
  session?: SessionID;
}

/** A session identifier (flow.SessionID): a JSON number. */
export type SessionID = number;

/** One session of the capture (store.Session, proxy/store/session.go). */
export interface Session {
  id: SessionID;
  name: string;
  created: string;
  pinned: boolean;
  recording: boolean;
  flows: number;
  bytes: number;
}

/** An import in progress (web.ImportProgress, web/sessions.go). */
export interface ImportProgress {
  id: number;
  name: string;
  /** Bytes of the file read so far; total is its size, -1 when unknown. */
  bytes: number;
  total: number;
  flows: number;
  started: string;
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
  "breakpoint",
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
  /** delay: request or response; breakpoint: request, response or both. */
  phase?: "request" | "response" | "both" | "";
  bytesPerSecond?: number;
  reset?: boolean;
  /** breakpoint: how long an exchange is held (default 60000). */
  timeoutMs?: number;
  /** breakpoint: what a held exchange does when its time is up. */
  onTimeout?: "continue" | "abort";
  /** breakpoint: the next N matches only; 0 = every match. */
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

export interface HeldMessage {
  type: "held/update";
  held?: Held[] | null;
}


// ---- compose (web/compose.go) ----

/** POST /api/compose (web.composeRequest). */
export interface ComposeRequest {
  method: string;
  url: string;
  headers: Field[];
  body?: string;
  bodyBase64?: string;
  /** The flow the request was edited from. */
  from?: FlowID;
}

/** The answer of POST /api/compose: the new flow and the fields Loupe computes per hop. */
export interface ComposeAnswer {
  id: FlowID;
  dropped?: string[];
}

// ---- breakpoints: exchanges held by a breakpoint rule ----

/** A message as a held exchange shows it: the body as text, or base64 when binary. */
export interface HeldRequest {
  method: string;
  url: string;
  headers: Field[] | null;
  body?: string;
  bodyBase64?: string;
  /** The body was longer than Loupe holds: it passes through unedited. */
  truncated?: boolean;
  /** held/update left the body out to stay small (over 1 MiB of bodies in one message): GET /api/held/{id} has it. */
  bodyOmitted?: boolean;
}

export interface HeldResponse {
  status: number;
  headers: Field[] | null;
  body?: string;
  bodyBase64?: string;
  truncated?: boolean;
  bodyOmitted?: boolean;
}

/** One entry of GET /api/held and held/update. */
export interface Held {
  id: FlowID;
  phase: "request" | "response";
  /** The breakpoint's rule. */
  rule?: string;
  /** RFC 3339 with milliseconds, UTC. */
  heldAt?: string;
  /** RFC 3339 with milliseconds, UTC. */
  deadline: string;
  remainingMs: number;
  /** What happens at the deadline. */
  onTimeout?: "continue" | "abort";
  request?: HeldRequest;
  response?: HeldResponse;
}

/**
 * The edit sent with POST /api/held/{id}/execute or /respond: shaped like the
 * flow's own request or response head; fields left out stay as they were.
 */
export interface HeldEdit {
  method?: string;
  url?: string;
  status?: number;
  headers?: Field[];
  body?: string;
  bodyBase64?: string;
}
/** The server took a subscription (web/hub.go subscribedMsg): batches after it are filtered by q. */
export interface SubscribedMessage {
  type: "subscribed";
  q: string;
  /** The session subscribed to, as asked: an ID, "recording" or "all" (absent: every session). */
  session?: number | string;
  seq: number;
}

/** The server refused a subscription's filter; the previous one stays. */
export interface SubscribeErrorMessage {
  type: "subscribe/error";
  q: string;
  error: string;
  term?: string;
}

/** Some changes could not be matched in time: refetch the first page. */
export interface StaleMessage {
  type: "flows/stale";
  seq?: number;
}

/** Rule counts, pushed when they change (GET /api/rules/stats). */
export interface RuleStatsMessage {
  type: "rules/stats";
  counts?: Record<string, number>;
}

export type FeedMessage =
  | BatchMessage
  | ResetMessage
  | RulesMessage
  | StateMessage
  | SubscribedMessage
  | SubscribeErrorMessage
  | StaleMessage
  | RuleStatsMessage
  | HeldMessage;

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
  /** Flows not recorded because the durable capture's writer could not keep up. */
  dropped?: number;
  /** Failed writes to disk (a full disk, an I/O error): the capture was cut there. */
  writeErrors?: number;
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
  /** The session recording now. */
  session?: Session;
  /** Imports in progress. */
  imports?: ImportProgress[];
}

/** An installed browser (Go: browser.Found). */
export interface FoundBrowser {
  name: string;
  kind: "chromium" | "firefox";
  path: string;
}

/** A browser started from the dashboard (Go: browser.Info). */
export interface LaunchedBrowser {
  id: number;
  name: string;
  path: string;
  pid: number;
  started: string;
  running: boolean;
  note?: string;
  exit?: string;
}

/** GET /api/browsers (Go: web.BrowsersState). */
export interface BrowsersState {
  available: FoundBrowser[];
  launched: LaunchedBrowser[];
}

/** POST /api/browsers (Go: web.LaunchRequest). */
export interface LaunchRequest {
  browser?: string;
  url?: string;
}

/** One host mapping (Go: hostmap.Entry): connections to hosts matching the glob go to `to`. */
export interface HostMapEntry {
  host: string;
  to: string;
}

/** GET and PUT /api/hostmap (Go: web.HostMapState). */
export interface HostMapState {
  fixed: HostMapEntry[];
  entries: HostMapEntry[];
}
