// The types of API answers, request bodies and feed messages. They are
// generated from the Go types into ./gen (go generate ./web; see tygo.yaml):
// this module re-exports them under the names the UI uses, and adds only what
// generation cannot say: string-literal unions for Go string constants (tygo
// emits those as plain strings) and the narrowed fields that use them.
// Do not declare an API type here by hand: name it in Go and regenerate.

import type * as browser from "./gen/browser";
import type * as connlimit from "./gen/connlimit";
import type * as flow from "./gen/flow";
import type * as hostmap from "./gen/hostmap";
import type * as rules from "./gen/rules";
import type * as store from "./gen/store";
import type * as web from "./gen/web";

export type { browser, connlimit, flow, hostmap, rules, store, web };

// ---- unions of Go string constants (the Go names in comments) ----

/** flow.State: StatePending, StateDone, StateError. */
export type FlowState = "pending" | "done" | "error";

/** flow.Facet: FacetRequest, FacetResponse, FacetUpstream. */
export type Facet = "request" | "response" | "upstream";

/** flow.Flow.overridden: "override", "mock", "block" or "". */
export type OverrideKind = "override" | "mock" | "block" | "";

/** flow.Kind: KindHTTP (""; absent), KindTunnel, KindTLSError. */
export type FlowKind = "" | "tunnel" | "tls-error";

/** flow.ReleaseContinue, ReleaseExecute, ReleaseRespond, ReleaseAbort. */
export type ReleaseAction = "continue" | "execute" | "respond" | "abort";

/** rules.TypeOverride ... rules.TypeSetStatus, in the editor's order. */
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
  "replaceBody",
  "replaceHeaders",
  "jsonPatch",
  "setQuery",
  "removeQuery",
  "setStatus",
] as const;

export type ActionType = (typeof ACTION_TYPES)[number];

// ---- flows (proxy/flow) ----

/** flow.Color: the six colours a flow can have (flow.ColorRed ...). */
export type Color = "red" | "orange" | "yellow" | "green" | "blue" | "purple";
/** flow.Annotation: the mark, colour and comment a person gave a flow. */
export type Annotation = Omit<flow.Annotation, "color"> & { color?: Color };
/** The body of PATCH /api/flows/{id} (flow.AnnotationPatch): a field left out stays; "" clears a colour or comment. */
export type AnnotationPatch = Omit<flow.AnnotationPatch, "color"> & { color?: Color | "" };

/** Flow identifier (flow.ID): monotonic, a JSON number. */
export type FlowID = flow.ID;
/** A session identifier (flow.SessionID): a JSON number. */
export type SessionID = flow.SessionID;

export type Field = flow.Field;
export type Request = flow.Request;
export type Response = flow.Response;
export type Body = flow.Body;
export type Timings = flow.Timings;
export type Tunnel = flow.Tunnel;
export type WSMessage = Omit<flow.WSMessage, "type"> & { type: "send" | "receive" };

export type BreakpointStop = Omit<flow.BreakpointStop, "action"> & { action?: ReleaseAction };
export type Breakpoint = Omit<flow.Breakpoint, "request" | "response"> & {
  request?: BreakpointStop;
  response?: BreakpointStop;
};

export type Flow = Omit<flow.Flow, "state" | "kind" | "overridden" | "websocket" | "breakpoint" | "annotation"> & {
  state: FlowState;
  annotation?: Annotation;
  kind?: FlowKind;
  overridden?: OverrideKind;
  websocket?: WSMessage[];
  breakpoint?: Breakpoint;
};

/** One row of the flow list (flow.Summary). */
export type Summary = Omit<flow.Summary, "state" | "kind" | "overridden" | "breakpoint" | "annotation"> & {
  state: FlowState;
  annotation?: Annotation;
  kind?: FlowKind;
  overridden?: OverrideKind;
  /** Breakpoint.State(): "held", "skipped", or the action that released it. */
  breakpoint?: "held" | "skipped" | ReleaseAction;
};

/** GET /api/flows (web.FlowPage). */
export type FlowPage = Omit<web.FlowPage, "flows"> & { flows: Summary[] | null };

// ---- sessions (proxy/store, web) ----

export type Session = store.Session;
export type SessionPatch = store.SessionPatch;
/** The optional body of POST /api/sessions. */
export type NewSessionRequest = web.NewSessionRequest;
export type ImportProgress = web.ImportProgress;
/** POST /api/flows/import. */
export type ImportAnswer = Omit<web.ImportAnswer, "flows"> & { flows: Summary[] };
/** POST /api/flows/{id}/replay. */
export type ReplayAnswer = web.ReplayAnswer;

// ---- rules (rules) ----

export type Match = rules.Match;
/** Fields of action types added to the table later are edited from their FieldSpec. */
export type Action = rules.Action & { [field: string]: unknown };
export type Rule = Omit<rules.Rule, "actions"> & { actions: Action[] };
/** A validation problem (rules.Problem); field like "actions[0].status". */
export type Problem = rules.Problem;
/** GET /api/rules/actions. */
export type ActionSpec = rules.ActionSpec;
export type FieldSpec = rules.FieldSpec;
/** GET /api/tree: the children of one node of the capture's structure. */
export type FlowTree = web.FlowTree;
export type TreeChild = web.TreeChild;
/** GET /api/rules/stats. */
export type RuleStats = web.RuleStats;

/** The JSON of every error answer (web.ErrorBody). */
export type ErrorBody = web.ErrorBody;

// ---- state (web) ----

/** Capture statistics (store.Stats). */
export type Stats = store.Stats;
/** GET /api/state and state/update (web.State). */
export type AppState = web.State;

// ---- websocket feed (web/hub.go) ----

export type BatchMessage = Omit<web.BatchMessage, "add" | "update"> & { add: Summary[] | null; update: Summary[] | null };
export type ResetMessage = web.ResetMessage;
export type RulesMessage = Omit<web.RulesMessage, "rules"> & { rules: Rule[] };
export type StateMessage = web.StateMessage;
export type HeldMessage = Omit<web.HeldMessage, "held"> & { held: Held[] | null };
export type SubscribedMessage = web.SubscribedMessage;
export type SubscribeErrorMessage = web.SubscribeErrorMessage;
export type StaleMessage = web.StaleMessage;
export type RuleStatsMessage = web.RuleStatsMessage;
/** What the browser sends: a subscription to a filter. */
export type SubscribeMessage = web.SubscribeMessage;

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

// ---- compose (web/compose.go) ----

/** POST /api/compose (web.ComposeRequest). */
export type ComposeRequest = web.ComposeRequest;
/** The answer of POST /api/compose. */
export type ComposeAnswer = web.ComposeAnswer;

// ---- breakpoints: exchanges held by a breakpoint rule ----

/** A held message (flow.Message): the request side. */
export type HeldRequest = flow.Message;
/** A held message (flow.Message): the response side. */
export type HeldResponse = flow.Message;

/** One entry of GET /api/held and held/update (flow.Held). */
export type Held = Omit<flow.Held, "phase" | "onTimeout"> & {
  phase: "request" | "response";
  onTimeout: "continue" | "abort";
};

/**
 * The edit sent with POST /api/held/{id}/execute or /respond (flow.Message):
 * fields left out stay as they were, absent headers included.
 */
export type HeldEdit = Partial<Pick<flow.Message, "method" | "url" | "status" | "headers" | "body" | "bodyBase64">>;

/** The optional body of POST /api/held/{id}/abort and abort-all. */
export type AbortRequest = web.AbortRequest;
/** The answer of continue-all and abort-all. */
export type ReleasedAnswer = web.ReleasedAnswer;

// ---- modes (web/modes.go) ----

/** An installed browser (browser.Found). */
export type FoundBrowser = Omit<browser.Found, "kind"> & { kind: "chromium" | "firefox" };
/** A browser started from the dashboard (browser.Info). */
export type LaunchedBrowser = browser.Info;
/** GET /api/browsers (web.BrowsersState). */
export type BrowsersState = Omit<web.BrowsersState, "available"> & { available: FoundBrowser[] };
/** POST /api/browsers (web.LaunchRequest). */
export type LaunchRequest = web.LaunchRequest;
/** One host mapping (hostmap.Entry). */
export type HostMapEntry = hostmap.Entry;
/** GET and PUT /api/hostmap (web.HostMapState). */
export type HostMapState = web.HostMapState;
/** The body of PUT /api/hostmap. */
export type HostMapRequest = web.HostMapRequest;
