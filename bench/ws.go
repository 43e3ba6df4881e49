package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// feedSummary is the part of a flow summary the bench reads.
type feedSummary struct {
	ID    uint64 `json:"id"`
	State string `json:"state"`
	Path  string `json:"path"`
}

// feedMsg is a dashboard websocket message (flows/batch and others).
type feedMsg struct {
	Type   string        `json:"type"`
	Add    []feedSummary `json:"add"`
	Update []feedSummary `json:"update"`
}

// wsReader is a dashboard client reading GET /api/ws as fast as it can, as
// a browser showing the live flow list would.
type wsReader struct {
	conn     *websocket.Conn
	done     chan struct{}
	messages atomic.Int64
	bytes    atomic.Int64
	errMu    sync.Mutex
	err      error
}

// dialFeed connects to the dashboard feed. onSummary, if set, sees every
// summary in an add or update, with the time its message arrived.
func dialFeed(ctx context.Context, t *target, onSummary func(s feedSummary, at time.Time)) (*wsReader, error) {
	if t.uiAddr == "" {
		return nil, fmt.Errorf("%w: no dashboard address (give -ui-addr and -token)", errSkip)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 64 << 10}
	h := http.Header{"Authorization": {"Bearer " + t.token}}
	conn, resp, err := d.DialContext(ctx, "ws://"+t.uiAddr+"/api/ws", h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w: GET /api/ws answered %s", errSkip, resp.Status)
		}
		return nil, fmt.Errorf("%w: GET /api/ws: %v", errSkip, err)
	}
	r := &wsReader{conn: conn, done: make(chan struct{})}
	go r.loop(onSummary)
	return r, nil
}

func (r *wsReader) loop(onSummary func(feedSummary, time.Time)) {
	defer close(r.done)
	for {
		_, data, err := r.conn.ReadMessage()
		if err != nil {
			r.errMu.Lock()
			r.err = err
			r.errMu.Unlock()
			return
		}
		at := time.Now()
		r.messages.Add(1)
		r.bytes.Add(int64(len(data)))
		if onSummary == nil {
			continue
		}
		var m feedMsg
		if json.Unmarshal(data, &m) != nil || m.Type != "flows/batch" {
			continue
		}
		for _, s := range m.Add {
			onSummary(s, at)
		}
		for _, s := range m.Update {
			onSummary(s, at)
		}
	}
}

// close ends the connection and waits for the reader; it reports whether
// the server dropped the client before that (a slow-client disconnect).
func (r *wsReader) close() (dropped error) {
	select {
	case <-r.done:
		r.errMu.Lock()
		defer r.errMu.Unlock()
		return r.err
	default:
	}
	r.conn.Close()
	<-r.done
	return nil
}
