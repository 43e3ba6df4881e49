package web

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// Tunnel and failed-handshake flows reach the list with their kind, the
// kind: filter selects them, and they cannot be replayed.
func TestTunnelFlowsAPI(t *testing.T) {
	e := newEnv(t, nil)
	plain := e.add(flowSpec{url: "https://app.test/", status: 200})
	h := e.store.Begin("127.0.0.1:5555", flow.Request{Method: "CONNECT", URL: "https://app.test:443", Proto: "HTTP/1.1"}, time.Now())
	h.Tunnel(flow.KindTLSError, flow.Tunnel{SNI: "app.test", Failure: "unknown_ca"})
	h.Finish(time.Now(), fmt.Errorf("the client rejected Loupe's certificate: unknown authority (TLS alert unknown_ca)"))
	rejected := h.ID()

	for q, want := range map[string]flow.ID{"kind:tls-error": rejected, "-kind:tls-error": plain} {
		got := decode[FlowPage](t, e.do("GET", "/api/flows?q="+url.QueryEscape(q), nil), http.StatusOK)
		if len(got.Flows) != 1 || got.Flows[0].ID != want {
			t.Errorf("%s: %+v, want flow %d", q, got.Flows, want)
		}
		if q == "kind:tls-error" && len(got.Flows) == 1 && got.Flows[0].Kind != flow.KindTLSError {
			t.Errorf("row kind %q", got.Flows[0].Kind)
		}
	}
	if resp := e.do("POST", fmt.Sprintf("/api/flows/%d/replay", rejected), nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("replay of a tunnel flow = %d, want 409", resp.StatusCode)
	}
}
