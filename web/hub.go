package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
	"loupe/rules"
	"loupe/web/filter"
)

// Feed messages: the server sends these (and HeldMessage), the browser
// sends SubscribeMessage. Their TypeScript twins are generated into
// ui/src/api/gen/web.ts (go generate ./web); FeedMessage is their union.
//
//tygo:emit
var _ = `export type FeedMessage = BatchMessage | ResetMessage | SubscribedMessage | SubscribeErrorMessage | StaleMessage | RuleStatsMessage | RulesMessage | StateMessage | HeldMessage;`

// BatchMessage carries the flows added, updated and removed since the previous
// batch, as of store sequence number Seq. One flush sends at most one.
type BatchMessage struct {
	Type   string         `json:"type" tstype:"\"flows/batch\""`
	Seq    uint64         `json:"seq"`
	Add    []flow.Summary `json:"add"`
	Update []flow.Summary `json:"update"`
	Remove []flow.ID      `json:"remove"`
}

// ResetMessage says every flow was cleared at Seq: drop everything held.
type ResetMessage struct {
	Type string `json:"type" tstype:"\"flows/reset\""`
	Seq  uint64 `json:"seq"`
}

// SubscribedMessage acknowledges a subscription: from the next message on, the
// batches this browser receives are filtered by Q. Seq is that of the last
// batch sent before the filter changed; a snapshot fetched now has a seq at
// or above it.
type SubscribedMessage struct {
	Type    string          `json:"type" tstype:"\"subscribed\""`
	Q       string          `json:"q"`
	Session json.RawMessage `json:"session,omitempty" tstype:"number | string"` // as subscribed
	Seq     uint64          `json:"seq"`
}

// SubscribeErrorMessage refuses a subscription's filter; the previous filter
// stays in force. Term is the offending term, as in a 400 answer.
type SubscribeErrorMessage struct {
	Type  string `json:"type" tstype:"\"subscribe/error\""`
	Q     string `json:"q"`
	Error string `json:"error"`
	Term  string `json:"term,omitempty"`
}

// StaleMessage tells a filtered browser that the feed could not decide some
// changes in time (a body filter under load): refetch the first page.
type StaleMessage struct {
	Type string `json:"type" tstype:"\"flows/stale\""`
	Seq  uint64 `json:"seq"`
}

// RuleStatsMessage carries how many stored flows each rule touched, when the
// counts changed (the answer of GET /api/rules/stats, pushed).
type RuleStatsMessage struct {
	Type   string         `json:"type" tstype:"\"rules/stats\""`
	Counts map[string]int `json:"counts"`
}

// SubscribeMessage is what a browser sends: a subscription to a filter.
type SubscribeMessage struct {
	Type string `json:"type" tstype:"\"subscribe\""`
	Q    string `json:"q"`
	// Session narrows the feed to one session: its ID, or "recording"
	// (whichever session records, following a new one); absent or "all":
	// every session.
	Session json.RawMessage `json:"session,omitempty" tstype:"number | string"`
}

// RulesMessage carries the whole rule list after a change (and on connect).
type RulesMessage struct {
	Type  string       `json:"type" tstype:"\"rules/update\""`
	Rules []rules.Rule `json:"rules"`
}

// StateMessage carries the state when it changed (checked every StateInterval,
// at once after pause/resume, and on connect).
type StateMessage struct {
	Type  string `json:"type" tstype:"\"state/update\""`
	State State  `json:"state"`
}

// hub turns store changes into feed messages and fans them out. One
// goroutine (run) owns the set of clients; it never waits on a browser:
// each client has a bounded queue, and a client whose queue is full is
// disconnected (the browser reconnects and resyncs from a fresh snapshot).
type hub struct {
	s          *Server
	register   chan *client
	unregister chan *client
	subscribe  chan subscription
	resolved   chan resolvedBatch
	counted    chan map[string]int
	stateNow   chan struct{} // cap 1: send state/update now
	done       chan struct{} // closed when run returns
	started    atomic.Bool

	clientCount atomic.Int64
	// Observed for tests and logs: the largest queue any client had, and how
	// many clients were dropped for falling behind.
	maxQueuedBytes atomic.Int64
	maxQueuedMsgs  atomic.Int64
	dropped        atomic.Int64
}

func newHub(s *Server) *hub {
	return &hub{
		s:          s,
		register:   make(chan *client),
		unregister: make(chan *client),
		subscribe:  make(chan subscription),
		resolved:   make(chan resolvedBatch),
		counted:    make(chan map[string]int),
		stateNow:   make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
}

// client is one connected browser.
type client struct {
	send   chan []byte   // closed by the hub only
	queued atomic.Int64  // bytes in send
	gone   chan struct{} // closed by shutdown

	mu     sync.Mutex
	conn   *websocket.Conn // set after the upgrade
	closed bool

	// q is the browser's filter (owned by the hub goroutine), its session
	// included. nil: the browser did not subscribe, or subscribed to
	// everything; it gets every change.
	q *query.Query
	// base is the filter without the session; recording is set when the
	// browser follows the recording session, whose ID q holds now.
	base      *query.Query
	recording bool
}

// subscription is a browser's request to filter its feed.
type subscription struct {
	c       *client
	q       string
	session json.RawMessage
}

// sessionOf reads a subscription's session: an ID, "recording", or
// (absent, "all") every session.
func sessionOf(raw json.RawMessage) (id flow.SessionID, recording bool, err error) {
	if len(raw) == 0 {
		return 0, false, nil
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		switch name {
		case "", "all":
			return 0, false, nil
		case "recording":
			return 0, true, nil
		}
		return 0, false, fmt.Errorf("session %q: want an ID, all or recording", name)
	}
	if err := json.Unmarshal(raw, &id); err != nil || id < 0 {
		return 0, false, fmt.Errorf("session %s: want an ID, all or recording", raw)
	}
	return id, false, nil
}

// narrow sets a client's filter from its base and session.
func (c *client) narrow(session flow.SessionID) {
	q := query.InSession(c.base, session)
	if q.Empty() {
		q = nil
	}
	c.q = q
}

// attach sets the connection once upgraded; if the hub dropped the client
// meanwhile, the connection is closed at once.
func (c *client) attach(conn *websocket.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = conn
	if c.closed {
		conn.Close()
	}
}

// shutdown closes the connection, which ends both loops of the client. It
// never blocks and may be called any number of times from anywhere.
func (c *client) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.gone)
	if c.conn != nil {
		c.conn.Close()
	}
}

func (h *hub) pokeState() {
	select {
	case h.stateNow <- struct{}{}:
	default:
	}
}

func (h *hub) run(ctx context.Context) error {
	if !h.started.CompareAndSwap(false, true) {
		return errors.New("web: Run called twice")
	}
	defer close(h.done)
	cfg := &h.s.cfg
	w := h.s.deps.Store.Watch()
	defer w.Close()

	heldChanged := make(chan struct{}, 1)
	if live := h.s.deps.Live; live != nil {
		cancel := live.WatchHeld(func() {
			select {
			case heldChanged <- struct{}{}:
			default:
			}
		})
		defer cancel()
	}

	rulesChanged := make(chan struct{}, 1)
	if h.s.deps.Rules != nil {
		cancel := h.s.deps.Rules.Subscribe(func(*rules.Set) {
			select {
			case rulesChanged <- struct{}{}:
			default:
			}
		})
		defer cancel()
	}

	match := newMatcher(h)
	defer match.stop()

	flush := time.NewTicker(cfg.FlushInterval)
	defer flush.Stop()
	stateTick := time.NewTicker(cfg.StateInterval)
	defer stateTick.Stop()

	clients := map[*client]struct{}{}
	remove := func(c *client) {
		if _, ok := clients[c]; ok {
			delete(clients, c)
			close(c.send)
			h.clientCount.Add(-1)
			h.viewers(len(clients))
		}
	}
	enqueue := func(c *client, msg []byte) {
		if !h.enqueue(c, msg) {
			h.dropped.Add(1)
			h.s.log.Warn("dashboard feed: browser too slow, disconnecting it (it will resync)")
			remove(c)
			c.shutdown()
		}
	}
	broadcast := func(msgs ...[]byte) {
		for c := range clients {
			for _, m := range msgs {
				if _, ok := clients[c]; ok {
					enqueue(c, m)
				}
			}
		}
	}
	var lastState []byte
	heldDirty := false
	stateSent := time.Now() // when the last state/update was broadcast
	dirty := false
	var lastSeq uint64 // the seq of the last batch sent
	// Rule counts are pushed when they changed: counted off the hub's
	// goroutine (a query over every rule hit), at most one count at a time,
	// at most once per StateInterval.
	var counts map[string]int
	countsDirty, counting := true, false
	countRules := func() {
		if counting || !countsDirty || len(clients) == 0 {
			return
		}
		counting, countsDirty = true, false
		go func() {
			c := h.s.deps.Store.RuleCounts()
			select {
			case h.counted <- c:
			case <-ctx.Done():
			}
		}()
	}
	for {
		// Once something changed, the next flush takes it all: the hub
		// does not wake for every change in between.
		changed := w.C()
		if dirty {
			changed = nil
		}
		select {
		case <-ctx.Done():
			for c := range clients {
				remove(c)
			}
			return nil
		case c := <-h.register:
			clients[c] = struct{}{}
			h.clientCount.Add(1)
			h.viewers(len(clients))
			enqueue(c, h.stateMessage())
			if m := h.rulesMessage(); m != nil {
				enqueue(c, m)
			}
			if m := h.heldMessage(); m != nil {
				enqueue(c, m)
			}
			if counts != nil {
				enqueue(c, mustJSON(RuleStatsMessage{Type: "rules/stats", Counts: counts}))
			}
			countRules()
		case sub := <-h.subscribe:
			if _, ok := clients[sub.c]; !ok {
				continue
			}
			f, err := filter.Parse(sub.q)
			session, recording, serr := sessionOf(sub.session)
			if err == nil && serr != nil {
				err = serr
			}
			if err != nil {
				m := SubscribeErrorMessage{Type: "subscribe/error", Q: sub.q, Error: err.Error()}
				var fe *filter.Error
				if errors.As(err, &fe) {
					m.Term = fe.Term
				}
				enqueue(sub.c, mustJSON(m))
				continue
			}
			sub.c.base, sub.c.recording = f, recording
			if recording {
				session = h.s.deps.Store.RecordingSession()
			}
			sub.c.narrow(session)
			enqueue(sub.c, mustJSON(SubscribedMessage{Type: "subscribed", Q: sub.q, Session: sub.session, Seq: lastSeq}))
		case r := <-h.resolved:
			if _, ok := clients[r.c]; ok && r.c.q == r.q {
				enqueue(r.c, r.msg)
			}
		case c := <-h.counted:
			counting = false
			if !maps.Equal(c, counts) {
				counts = c
				broadcast(mustJSON(RuleStatsMessage{Type: "rules/stats", Counts: counts}))
			}
		case c := <-h.unregister:
			remove(c)
		case <-changed:
			dirty = true
		case <-flush.C:
			if heldDirty {
				// At most one held/update per flush, however many
				// exchanges came and went: a burst stays one message.
				heldDirty = false
				if m := h.heldMessage(); m != nil && len(clients) > 0 {
					broadcast(m)
				}
			}
			if !dirty {
				continue
			}
			dirty = false
			ch := w.Take() // taken even without browsers: a browser that connects later starts from a snapshot
			if ch.Empty() {
				continue
			}
			lastSeq = ch.Seq
			countsDirty = true
			if len(clients) > 0 {
				h.fanOut(ch, clients, enqueue, match)
			}
		case <-heldChanged:
			heldDirty = true
		case <-rulesChanged:
			if m := h.rulesMessage(); m != nil {
				broadcast(m)
			}
		case <-stateTick.C:
			countRules()
			st := h.s.state()
			// Sent when the capture's figures changed, and now and then
			// anyway so that the process figures stay fresh: browsers do
			// not poll.
			if key := stateKey(st); string(key) != string(lastState) || time.Since(stateSent) >= stateRefresh {
				lastState, stateSent = key, time.Now()
				broadcast(mustJSON(StateMessage{Type: "state/update", State: st}))
			}
		case <-h.stateNow:
			st := h.s.state()
			lastState, stateSent = stateKey(st), time.Now()
			broadcast(mustJSON(StateMessage{Type: "state/update", State: st}))
		}
	}
}

// stateRefresh is how long the state may go unsent though it did not
// change (its process figures move all the time).
const stateRefresh = 10 * time.Second

// enqueue queues msg for c unless c is over its bounds (in messages, or in
// bytes once something is queued), in which case it reports false.
func (h *hub) enqueue(c *client, msg []byte) bool {
	n := int64(len(msg))
	q := c.queued.Add(n)
	if q > n && q > h.s.cfg.ClientQueueBytes {
		c.queued.Add(-n)
		return false
	}
	select {
	case c.send <- msg:
	default:
		c.queued.Add(-n)
		return false
	}
	if q > h.maxQueuedBytes.Load() {
		h.maxQueuedBytes.Store(q)
	}
	if m := int64(len(c.send)); m > h.maxQueuedMsgs.Load() {
		h.maxQueuedMsgs.Store(m)
	}
	return true
}

// fanOut turns one Take of the store's dirty set into the feed messages
// of one flush: a reset first if the store was cleared, then one
// flows/batch. Both carry the Take's seq, so the seqs of successive batches
// increase, and a batch never claims a seq below that of a change it
// carries (the rule the browser's snapshot logic needs).
//
// A browser without a filter gets every change. A filtered one gets the
// summaries that match its filter in add (new to it or not: it upserts)
// and the IDs of every other change in remove (a flow that stopped
// matching, or that it fetched in a page before it changed), so it never
// refetches its list. A summary decides every term but body: (and grpc:
// before a response); those flows go to the matcher, which asks the store
// off the hub's goroutine and answers with a batch of its own.
func (h *hub) fanOut(ch store.Changes, clients map[*client]struct{}, enqueue func(*client, []byte), m *matcher) {
	var reset []byte
	if ch.Reset {
		reset = mustJSON(ResetMessage{Type: "flows/reset", Seq: ch.Seq})
	}
	var added, updated []flow.Summary
	for _, id := range ch.Added {
		if sum, ok := h.s.deps.Store.Summary(id); ok { // else removed meanwhile: a later Take says so
			added = append(added, sum)
		}
	}
	for _, id := range ch.Updated {
		if sum, ok := h.s.deps.Store.Summary(id); ok {
			updated = append(updated, sum)
		}
	}
	// Browsers that follow the recording session follow a new one.
	rec := h.s.deps.Store.RecordingSession()
	for c := range clients {
		if c.recording && (c.q == nil || c.q.Session != rec) {
			c.narrow(rec)
		}
	}
	var all []byte // the unfiltered batch, made once
	for c := range clients {
		if reset != nil {
			enqueue(c, reset)
		}
		if c.q == nil {
			if all == nil {
				b := newBatch(ch.Seq)
				b.Add = append(b.Add, added...)
				b.Update = append(b.Update, updated...)
				b.Remove = append(b.Remove, ch.Removed...)
				all = mustJSON(b)
			}
			if len(added)+len(updated)+len(ch.Removed) > 0 {
				enqueue(c, all)
			}
			continue
		}
		b := newBatch(ch.Seq)
		var unsure []flow.ID
		for _, list := range [][]flow.Summary{added, updated} {
			for i := range list {
				match, sure := c.q.MatchSummary(&list[i])
				switch {
				case !sure:
					unsure = append(unsure, list[i].ID)
				case match:
					b.Add = append(b.Add, list[i])
				default:
					b.Remove = append(b.Remove, list[i].ID)
				}
			}
		}
		b.Remove = append(b.Remove, ch.Removed...)
		if len(b.Add)+len(b.Remove) > 0 {
			enqueue(c, mustJSON(b))
		}
		if len(unsure) > 0 && !m.submit(matchJob{c: c, q: c.q, seq: ch.Seq, ids: unsure}) {
			enqueue(c, mustJSON(StaleMessage{Type: "flows/stale", Seq: ch.Seq}))
		}
	}
}

func newBatch(seq uint64) BatchMessage {
	return BatchMessage{Type: "flows/batch", Seq: seq, Add: []flow.Summary{}, Update: []flow.Summary{}, Remove: []flow.ID{}}
}

func (h *hub) rulesMessage() []byte {
	if h.s.deps.Rules == nil {
		return nil
	}
	return mustJSON(RulesMessage{Type: "rules/update", Rules: nonNilRules(h.s.deps.Rules.Rules())})
}

// heldMessage is the held/update message, nil without Live.
func (h *hub) heldMessage() []byte {
	if h.s.deps.Live == nil {
		return nil
	}
	return mustJSON(HeldMessage{Type: "held/update", Held: feedBodies(h.s.heldList())})
}

// viewers tells the core how many dashboards hold a feed open: a
// breakpoint holds an exchange only while one does.
func (h *hub) viewers(n int) {
	if live := h.s.deps.Live; live != nil {
		live.SetViewers(n)
	}
}

func (h *hub) stateMessage() []byte {
	return mustJSON(StateMessage{Type: "state/update", State: h.s.state()})
}

// stateKey is what decides that the state changed: everything but the
// process figures, which move all the time.
func stateKey(st State) []byte {
	st.Process = ProcessStats{}
	return mustJSON(st)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs of our own are marshalled
	}
	return b
}

// maxClientMessage bounds what a browser may send: a subscription, whose
// filter is at most filter.MaxQueryLen bytes.
const maxClientMessage = filter.MaxQueryLen + 1024

// handleWS upgrades to the live feed. The client is registered with the hub
// before the upgrade completes, so every change after the browser sees the
// connection open is in a batch it receives: the snapshot it fetches next
// plus the batches newer than the snapshot's seq are the whole picture.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	h := s.hub
	c := &client{send: make(chan []byte, s.cfg.ClientQueue), gone: make(chan struct{})}
	select {
	case h.register <- c:
	case <-h.done:
		s.fail(w, r, httpError(http.StatusServiceUnavailable, "live feed stopped"))
		return
	case <-r.Context().Done():
		return
	}
	unregister := func() {
		select {
		case h.unregister <- c:
		case <-h.done:
		}
	}
	up := websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 16 << 10,
		CheckOrigin:     sameOrigin,
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		unregister() // Upgrade has answered the client
		return
	}
	c.attach(conn)
	conn.SetReadLimit(maxClientMessage)

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(c)
	}()

	pongWait := 2 * s.cfg.PingInterval
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		var m SubscribeMessage
		if json.Unmarshal(data, &m) != nil || m.Type != "subscribe" {
			continue // nothing else is asked of the server
		}
		select {
		case h.subscribe <- subscription{c: c, q: m.Q, session: m.Session}:
		case <-h.done:
		case <-c.gone:
		}
	}
	c.shutdown()
	unregister()
	<-writerDone
}

// writeLoop is the one writer of a client: queued messages and pings, each
// under a deadline. It ends when the hub closes the queue or a write fails.
func (s *Server) writeLoop(c *client) {
	defer c.shutdown()
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case msg, ok := <-c.send:
			if !ok {
				// The hub let go of us (shutdown, or too slow: then the
				// connection is already closed and this write just fails).
				_ = c.conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
				return
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			err := c.conn.WriteMessage(websocket.TextMessage, msg)
			c.queued.Add(-int64(len(msg)))
			if err != nil {
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.WriteTimeout)); err != nil {
				return
			}
		case <-c.gone:
			return
		}
	}
}
