// Package web is Loupe's dashboard server: the JSON API over the captured
// flows and the rules, the websocket feed of live changes (the hub), the
// embedded browser app, and the public certificate install page.
//
// It must never slow the proxy down: the hub reads the store's change feed on
// its own goroutine and drops a browser that can't keep up rather than wait
// for it. It must never leak capture data to another site: every /api route
// wants the token, cross-site Origins are refused, and so are Host names that
// are not the dashboard's own (DNS rebinding). It never imports the proxy
// core: replay and compose go through the Replayer and Composer interfaces,
// breakpoints and kill through Live.
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"loupe/browser"
	"loupe/hostmap"
	"loupe/proxy/connlimit"
	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
	"loupe/rules"
)

// FlowStore is what the dashboard needs from the flow store; *store.Store
// and the durable capture (proxy/store/disk) implement it. It is an
// interface so that the web package can be tested and reasoned about
// against exactly these methods (their contracts are store.Backend's).
type FlowStore interface {
	Get(id flow.ID) (*flow.Flow, bool)
	Summary(id flow.ID) (flow.Summary, bool)
	List(q *query.Query, page query.Page) query.Result
	Each(q *query.Query, fn func(*flow.Flow) bool)
	Tree(q *query.Query, node query.TreeNode, limit int) query.Tree
	RuleCounts() map[string]int
	Body(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error)
	DecodedBody(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error)
	Delete(id flow.ID) bool
	Annotate(id flow.ID, p flow.AnnotationPatch) (flow.Summary, error)
	Clear()
	Import(rs []flow.Recorded) ([]flow.ID, error)
	SetPaused(paused bool)
	Paused() bool
	Stats() store.Stats
	Seq() uint64
	Watch() *store.Watcher

	Sessions() ([]store.Session, error)
	RecordingSession() flow.SessionID
	NewSession(name string) (store.Session, error)
	UpdateSession(id flow.SessionID, p store.SessionPatch) (store.Session, error)
	DeleteSession(id flow.SessionID) error
	ClearSession(id flow.SessionID) error
	Capacity() (flows int, bytes int64)
	NewImport(t store.ImportTarget) (store.Importer, error)
}

// RuleStore is what the dashboard needs from the rule store; *rules.Store
// implements it.
type RuleStore interface {
	Rules() []rules.Rule
	Replace(rs []rules.Rule) error
	Create(r rules.Rule) (rules.Rule, error)
	Update(id string, r rules.Rule) error
	Delete(id string) error
	Subscribe(fn func(*rules.Set)) (cancel func())
}

// Replayer sends a recorded request again through the proxy core and records
// the result as a new flow (ReplayOf set). cmd/loupe wires the core's Replay.
type Replayer interface {
	Replay(ctx context.Context, f *flow.Flow, body []byte) (flow.ID, error)
}

// ReplayFunc adapts a function to Replayer, for wiring a core that is built
// after the dashboard.
type ReplayFunc func(ctx context.Context, f *flow.Flow, body []byte) (flow.ID, error)

// Replay calls fn.
func (fn ReplayFunc) Replay(ctx context.Context, f *flow.Flow, body []byte) (flow.ID, error) {
	return fn(ctx, f, body)
}

// Composer sends a request written in the dashboard (edit and send, a pasted
// cURL command) through the proxy core, like a client's, and records it as a
// new flow marked composed, linked to the flow it was edited from (from; nil
// for a request written from scratch). cmd/loupe wires the core's Compose,
// which shares Replay's path into the pipeline. Breakpoint rules hold it
// only when breakpoints is set (the person sending it is watching already).
type Composer interface {
	Compose(ctx context.Context, req flow.Request, body []byte, from *flow.Flow, breakpoints bool) (flow.ID, error)
}

// Live reaches the exchanges in flight in the proxy core: those held at
// breakpoints, and any to kill. cmd/loupe wires the core's methods, as it
// does Replayer; the types crossing it are proxy/flow's.
type Live interface {
	// Held lists the exchanges held at breakpoints, oldest first.
	Held() []flow.Held
	// Release decides for one held exchange. Errors: flow.ErrNotHeld,
	// *flow.EditError (the exchange stays held).
	Release(id flow.ID, r flow.Release) error
	// ReleaseAll continues or aborts every held exchange and says how many.
	ReleaseAll(action string, status int) (int, error)
	// Kill ends an exchange in flight (flow.ErrNotLive when none is).
	Kill(id flow.ID) error
	// SetViewers says how many dashboards are connected: breakpoints hold
	// exchanges only while one is.
	SetViewers(n int)
	// WatchHeld calls fn (which must not block) when the held list
	// changes, until cancel.
	WatchHeld(fn func()) (cancel func())
	// BreakpointHits reports how many exchanges each rule's breakpoint
	// held since the rule last changed.
	BreakpointHits() map[string]int
}

// Browsers starts browsers that use Loupe (the dashboard's "Open a
// browser") and lists them; cmd/loupe wires browser.Launcher.
type Browsers interface {
	Available() []browser.Found
	List() []browser.Info
	Launch(ctx context.Context, name, url string) (browser.Info, error)
	Stop(id int) error
}

// HostMapStore holds the host mappings; *hostmap.Store implements it.
type HostMapStore interface {
	Fixed() []hostmap.Entry
	Entries() []hostmap.Entry
	Replace(entries []hostmap.Entry) error
}

var _ HostMapStore = (*hostmap.Store)(nil)

// CA is the root certificate shown on the install page.
type CA interface {
	CertPEM() []byte
	Fingerprint() string
}

// Config configures the dashboard server. Zero fields take their defaults.
type Config struct {
	// Token guards every /api route and the websocket. Required.
	Token string
	// ProxyAddr and UIAddr are the listeners' addresses, shown in the state
	// and on the install page. UIAddr's host, when it is a specific IP, is
	// also an accepted Host header.
	ProxyAddr, UIAddr string
	// AllowedHosts are extra host names (without port) accepted in the Host
	// header, for a dashboard reached through a name other than localhost or
	// an IP address. Other names are refused to stop DNS rebinding.
	AllowedHosts []string
	// Logger receives request failures and hub events. Default slog.Default().
	Logger *slog.Logger
	// Version is reported as the HAR creator version.
	Version string

	// FlushInterval is how often the hub turns store changes into a
	// flows/batch message. Default 50 ms.
	FlushInterval time.Duration
	// StateInterval is how often the hub checks the state for a
	// state/update message. Default 1 s.
	StateInterval time.Duration
	// ClientQueue bounds the messages waiting for one browser. Default 64.
	ClientQueue int
	// ClientQueueBytes bounds the bytes waiting for one browser; a browser
	// over either bound is disconnected (it reconnects and resyncs). A
	// single message larger than this (a burst of thousands of flows in one
	// flush) is still queued when the queue is empty. Default 8 MiB.
	ClientQueueBytes int64
	// WriteTimeout bounds one websocket write. Default 10 s.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings a browser; a browser that
	// sends nothing (not even a pong) for twice this long is disconnected.
	// Default 20 s.
	PingInterval time.Duration
	// MaxImportBytes bounds an import body (a HAR or a session file).
	// Default 512 MiB.
	MaxImportBytes int64
	// Debug, when set, is served under /debug/pprof/ (cmd/loupe sets
	// net/http/pprof there with -debug-addr), for tools that only know the
	// dashboard address and its token. It goes through the same Host,
	// Origin and security-header checks as every other route, and only the
	// token in an "Authorization: Bearer" header opens it, never the
	// dashboard cookie: a web page cannot make a browser send that header
	// to another origin, so profiles (URLs, headers and bodies in flight)
	// cannot be read cross-site. Nil: not served.
	Debug http.Handler
}

// Validate reports impossible settings.
func (c Config) Validate() error {
	var errs []error
	if c.Token == "" {
		errs = append(errs, errors.New("web: Token is required"))
	}
	for name, d := range map[string]time.Duration{"FlushInterval": c.FlushInterval,
		"StateInterval": c.StateInterval, "WriteTimeout": c.WriteTimeout, "PingInterval": c.PingInterval} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("web: %s is negative", name))
		}
	}
	if c.ClientQueue < 0 || c.ClientQueueBytes < 0 || c.MaxImportBytes < 0 {
		errs = append(errs, errors.New("web: negative limit"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 50 * time.Millisecond
	}
	if c.StateInterval == 0 {
		c.StateInterval = time.Second
	}
	if c.ClientQueue == 0 {
		c.ClientQueue = 64
	}
	if c.ClientQueueBytes == 0 {
		c.ClientQueueBytes = 8 << 20
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.MaxImportBytes == 0 {
		c.MaxImportBytes = 512 << 20
	}
}

// Deps are the services the dashboard serves. Store is required; a nil
// Rules, Replayer, Live or CA makes the matching endpoints answer 501 (or
// omit the data).
type Deps struct {
	Store    FlowStore
	Rules    RuleStore
	Replayer Replayer
	// Composer sends requests written in the dashboard (POST
	// /api/compose). Nil: 501.
	Composer Composer
	// Live reaches the exchanges in flight: breakpoints (/api/held) and
	// kill. Nil: 501.
	Live Live
	CA   CA
	// Conns reports the proxy's client connections for the state. Nil:
	// not reported.
	Conns func() connlimit.Stats
	// Browsers starts browsers that use Loupe. Nil: 501.
	Browsers Browsers
	// HostMap holds the host mappings. Nil: 501.
	HostMap HostMapStore
}

// Server is the dashboard. Build it with New, serve Handler on the dashboard
// listener, and run the hub with Run.
type Server struct {
	cfg   Config
	addrs atomic.Pointer[[2]string] // proxy, UI: Config's, or SetAddrs'

	deps   Deps
	log    *slog.Logger
	router chi.Router
	public http.Handler
	hub    *hub

	imports imports // in progress, for the state
}

// New builds the server. It starts nothing: call Run for the hub.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("web: Deps.Store is required")
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, deps: deps, log: cfg.Logger}
	s.addrs.Store(&[2]string{cfg.ProxyAddr, cfg.UIAddr})
	s.hub = newHub(s)
	s.router = s.routes()
	s.public = s.publicRoutes()
	return s, nil
}

// SetAddrs records the listeners' real addresses once they listen (a ":0"
// port becomes known then). Safe to call while serving.
func (s *Server) SetAddrs(proxyAddr, uiAddr string) {
	s.addrs.Store(&[2]string{proxyAddr, uiAddr})
}

func (s *Server) proxyAddr() string { return s.addrs.Load()[0] }
func (s *Server) uiAddr() string    { return s.addrs.Load()[1] }

// Handler serves the dashboard listener: API, websocket, UI, install page.
func (s *Server) Handler() http.Handler { return s.router }

// PublicHandler serves only the install page and the CA certificate, without
// token: the proxy core uses it for requests aimed at the proxy itself.
func (s *Server) PublicHandler() http.Handler { return s.public }

// Run runs the hub until ctx ends, then disconnects every browser. Until it
// runs, websocket handshakes wait (and end with their request).
func (s *Server) Run(ctx context.Context) error { return s.hub.run(ctx) }

// routes is the one route table of the dashboard listener.
func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.recoverer, s.securityHeaders, s.checkHost)

	r.Get("/api/ca.pem", s.handleCAPEM)
	r.Get("/install", s.handleInstall)
	if s.cfg.Debug != nil {
		r.With(noStore, s.requireBearer, s.checkOrigin).Handle("/debug/pprof/*", s.cfg.Debug)
	}

	r.Route("/api", func(r chi.Router) {
		r.Use(noStore, s.requireToken, s.checkOrigin)

		r.Get("/flows", s.handleListFlows)
		r.Get("/tree", s.handleTree)
		r.Delete("/flows", s.handleClearFlows)
		r.Get("/flows/export.har", s.handleExportHAR)
		r.Post("/flows/import", s.handleImportHAR)

		r.Get("/sessions", s.handleListSessions)
		r.Post("/sessions", s.handleNewSession)
		r.Post("/sessions/import", s.handleImportSession)
		r.Route("/sessions/{sessionID}", func(r chi.Router) {
			r.Use(s.sessionCtx)
			r.Patch("/", s.handleUpdateSession)
			r.Delete("/", s.handleDeleteSession)
			r.Get("/export", s.handleExportSession)
		})
		r.Route("/flows/{id}", func(r chi.Router) {
			r.Use(s.flowCtx)
			r.Get("/", s.handleGetFlow)
			r.Patch("/", s.handleAnnotate)
			r.Delete("/", s.handleDeleteFlow)
			r.Get("/{facet}/body", s.handleBody)
			r.Post("/replay", s.handleReplay)
			r.Post("/kill", s.handleKill)
		})

		r.Get("/held", s.handleHeld)
		r.Get("/held/{id}", s.handleHeldOne)
		r.Post("/held/continue-all", s.handleReleaseAll(flow.ReleaseContinue))
		r.Post("/held/abort-all", s.handleReleaseAll(flow.ReleaseAbort))
		r.Post("/held/{id}/{action}", s.handleRelease)
		r.Post("/compose", s.handleCompose)

		r.Get("/rules", s.handleListRules)
		r.Put("/rules", s.handleReplaceRules)
		r.Post("/rules", s.handleAddRule)
		r.Get("/rules/stats", s.handleRuleStats)
		r.Get("/rules/actions", s.handleRuleActions)
		r.Put("/rules/{ruleID}", s.handleUpdateRule)
		r.Delete("/rules/{ruleID}", s.handleDeleteRule)

		r.Get("/state", s.handleState)
		r.Post("/recording/pause", s.handlePause)
		r.Post("/recording/resume", s.handleResume)

		r.Get("/ws", s.handleWS)
		s.modeRoutes(r)

		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, r, errNotFound)
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, r, errMethod)
		})
	})

	ui := s.uiHandler(distFiles())
	r.Get("/", ui)
	r.Head("/", ui)
	r.NotFound(ui)
	return r
}

// publicRoutes serves the proxy's own address: install page and certificate.
func (s *Server) publicRoutes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverer, s.securityHeaders)
	r.Get("/", s.handleInstall)
	r.Get("/install", s.handleInstall)
	r.Get("/ca.pem", s.handleCAPEM)
	r.Get("/api/ca.pem", s.handleCAPEM)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Loupe: this is the proxy's own address; see / for the certificate install page", http.StatusNotFound)
	})
	return r
}

// The real stores satisfy the interfaces (checked at compile time).
var (
	_ FlowStore = (*store.Store)(nil)
	_ RuleStore = (*rules.Store)(nil)
)

// LoginURL is the dashboard address to print at start-up: opening it stores
// the token in a cookie and drops it from the address bar. A wildcard
// listener address (":8081", "0.0.0.0:8081", "[::]:8081") is shown as
// loopback, which is where a local browser reaches it.
func LoginURL(uiAddr, token string) string {
	host, port, err := net.SplitHostPort(uiAddr)
	if err != nil {
		host, port = uiAddr, ""
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	hostport := host
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	return "http://" + hostport + "/?token=" + url.QueryEscape(token)
}
