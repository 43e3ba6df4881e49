package proxy_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// wsOrigin echoes messages; "drop" makes it cut the TCP connection, and a
// close frame from the client is reported on closes.
func wsOrigin(t *testing.T, secure bool, closes chan<- int) *httptest.Server {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, Subprotocols: []string{"chat"}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, http.Header{"Set-Cookie": {"a=b"}})
		if err != nil {
			return
		}
		defer c.Close()
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					closes <- ce.Code
				}
				return
			}
			if string(msg) == "drop" {
				c.NetConn().Close()
				return
			}
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	})
	if secure {
		s := httptest.NewTLSServer(h)
		t.Cleanup(s.Close)
		return s
	}
	return proxytest.Origin(t, h)
}

func TestWebSocketRelayedAndRecorded(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := "ws"
		if secure {
			name = "wss"
		}
		t.Run(name, func(t *testing.T) {
			closes := make(chan int, 4)
			origin := wsOrigin(t, secure, closes)
			env := proxytest.Start(t, proxy.Config{WSMessageCap: 16})
			d := websocket.Dialer{
				Proxy:            http.ProxyURL(env.URL),
				TLSClientConfig:  &tls.Config{RootCAs: env.CA.Pool()},
				HandshakeTimeout: 5 * time.Second,
				Subprotocols:     []string{"chat"},
			}
			u := name + strings.TrimPrefix(strings.TrimPrefix(origin.URL, "https"), "http") + "/socket"
			c, resp, err := d.Dial(u, nil)
			if err != nil {
				t.Fatalf("dial %s: %v", u, err)
			}
			defer c.Close()
			if resp.StatusCode != 101 || c.Subprotocol() != "chat" || resp.Header.Get("Set-Cookie") != "a=b" {
				t.Errorf("handshake: %d subprotocol %q cookie %q", resp.StatusCode, c.Subprotocol(), resp.Header.Get("Set-Cookie"))
			}
			big := bytes.Repeat([]byte("z"), 100)
			msgs := []struct {
				op   int
				data []byte
			}{{websocket.TextMessage, []byte("hello")}, {websocket.BinaryMessage, []byte{1, 2, 3}}, {websocket.TextMessage, big}}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for _, m := range msgs {
				if err := c.WriteMessage(m.op, m.data); err != nil {
					t.Fatal(err)
				}
				op, got, err := c.ReadMessage()
				if err != nil || op != m.op || !bytes.Equal(got, m.data) {
					t.Fatalf("echo: %d %q %v", op, got, err)
				}
			}
			if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye")); err != nil {
				t.Fatal(err)
			}
			select {
			case code := <-closes:
				if code != 4001 {
					t.Errorf("origin saw close code %d, want 4001", code)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("close frame not propagated to the origin")
			}
			_, _, err = c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4001 {
				t.Errorf("client read after close: %v, want the origin's close 4001", err)
			}

			f := env.Rec.Last(t)
			if f.Flow.Response == nil || f.Flow.Response.Status != 101 || f.Flow.State != flow.StateDone {
				t.Fatalf("flow response %+v state %s error %q", f.Flow.Response, f.Flow.State, f.Flow.Error)
			}
			var sends, receives, closesSeen int
			for _, m := range f.Flow.WebSocket {
				switch {
				case m.Opcode == websocket.CloseMessage:
					closesSeen++
				case m.Direction == flow.Send:
					sends++
				case m.Direction == flow.Receive:
					receives++
				}
				if m.Size == 100 && (len(m.Data) != 16 || !m.Truncated) {
					t.Errorf("big message recorded %d bytes truncated=%v", len(m.Data), m.Truncated)
				}
			}
			if sends != 3 || receives != 3 || closesSeen != 2 {
				t.Errorf("recorded %d sends, %d receives, %d closes: %+v", sends, receives, closesSeen, f.Flow.WebSocket)
			}
			if m := f.Flow.WebSocket[0]; m.Direction != flow.Send || m.Opcode != 1 || string(m.Data) != "hello" || m.Time.IsZero() {
				t.Errorf("first message %+v", m)
			}
		})
	}
}

// The origin dropping the connection (no close frame) ends the client's.
func TestWebSocketConnectionEndPropagates(t *testing.T) {
	origin := wsOrigin(t, false, make(chan int, 1))
	env := proxytest.Start(t, proxy.Config{})
	d := websocket.Dialer{Proxy: http.ProxyURL(env.URL), HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(origin.URL, "http")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte("drop")); err != nil {
		t.Fatal(err)
	}
	// The read deadline only guards against a hang: ending there means
	// the proxy never passed the end on.
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _, err = c.ReadMessage()
	if ne, ok := errors.AsType[net.Error](err); err == nil || ok && ne.Timeout() {
		t.Errorf("client read: %v, want the connection's end passed on", err)
	}
	env.Rec.Last(t)
}

// A refused upgrade is relayed as the origin's answer.
func TestWebSocketRefused(t *testing.T) {
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no sockets here", http.StatusForbidden)
	}))
	env := proxytest.Start(t, proxy.Config{})
	d := websocket.Dialer{Proxy: http.ProxyURL(env.URL), HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial("ws"+strings.TrimPrefix(origin.URL, "http")+"/", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial: %v %+v", err, resp)
	}
	f := env.Rec.Last(t)
	if f.Flow.Response == nil || f.Flow.Response.Status != 403 {
		t.Errorf("recorded %+v", f.Flow.Response)
	}
}

// Rules apply to upgrades: block answers instead of the origin, request
// headers are set, matched rules are recorded.
func TestWebSocketRules(t *testing.T) {
	var saw headerSaw
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw.set(r.Header)
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.Close()
	}))
	env := proxytest.Start(t, proxy.Config{Rules: ruleSet(t,
		rules.Rule{ID: "block", Match: rules.Match{Scheme: "ws", Path: "/blocked"}, Actions: []rules.Action{{Type: "block", Status: 451}}},
		rules.Rule{ID: "hdr", Match: rules.Match{Scheme: "ws"}, Actions: []rules.Action{{Type: "setRequestHeaders", Headers: map[string]string{"X-Rule": "1"}}}},
	)})
	d := websocket.Dialer{Proxy: http.ProxyURL(env.URL), HandshakeTimeout: 5 * time.Second}
	base := "ws" + strings.TrimPrefix(origin.URL, "http")
	_, resp, err := d.Dial(base+"/blocked", nil)
	if err == nil || resp == nil || resp.StatusCode != 451 {
		t.Fatalf("blocked upgrade: %v %+v", err, resp)
	}
	f := env.Rec.Last(t)
	if strings.Join(f.Flow.Rules, ",") != "block,hdr" || f.Flow.Overridden != "block" {
		t.Errorf("rules %v overridden %q", f.Flow.Rules, f.Flow.Overridden)
	}
	c, _, err := d.Dial(base+"/open", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if saw.get().Get("X-Rule") != "1" {
		t.Errorf("origin saw %v", saw.get())
	}
}
