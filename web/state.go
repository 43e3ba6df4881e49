package web

import (
	"net/http"
	"runtime"
	"runtime/metrics"

	"loupe/proxy/connlimit"
	"loupe/proxy/store"
)

// State is the answer of GET /api/state and the payload of state/update
// messages. Its TypeScript twin lives in ui/src/api/types.ts.
type State struct {
	// Seq is the store's change sequence number.
	Seq uint64 `json:"seq"`
	// Paused is true while recording is paused (traffic still flows);
	// Recording is its opposite, for readability on the other side.
	Paused    bool `json:"paused"`
	Recording bool `json:"recording"`
	// Flows is how many flows the store holds.
	Flows int `json:"flows"`
	// Stats is the store's accounting: memory and disk used by bodies,
	// budgets, evictions, truncations.
	Stats store.Stats `json:"stats"`
	// ProxyAddr and UIAddr are the listener addresses.
	ProxyAddr string `json:"proxyAddr"`
	UIAddr    string `json:"uiAddr"`
	// CAFingerprint is the SHA-256 fingerprint of the root certificate.
	CAFingerprint string `json:"caFingerprint"`
	// Clients is how many dashboards are connected to the live feed.
	Clients int `json:"clients"`
	// Process is the Loupe process as a whole.
	Process ProcessStats `json:"process"`
	// Connections are the proxy's client connections: held now, the bound,
	// refused and idle ones closed to make room. Absent when not wired.
	Connections *connlimit.Stats `json:"connections,omitempty"`
}

// ProcessStats are cheap runtime figures of the Loupe process.
type ProcessStats struct {
	// HeapBytes is the memory held by live and not yet swept heap objects.
	HeapBytes uint64 `json:"heapBytes"`
	// Goroutines is the number of goroutines.
	Goroutines int `json:"goroutines"`
}

func (s *Server) state() State {
	st := s.deps.Store.Stats()
	out := State{
		Seq:       s.deps.Store.Seq(),
		Paused:    st.Paused,
		Recording: !st.Paused,
		Flows:     st.Flows,
		Stats:     st,
		ProxyAddr: s.proxyAddr(),
		UIAddr:    s.uiAddr(),
		Clients:   int(s.hub.clientCount.Load()),
		Process:   processStats(),
	}
	if s.deps.CA != nil {
		out.CAFingerprint = s.deps.CA.Fingerprint()
	}
	if s.deps.Conns != nil {
		cs := s.deps.Conns()
		out.Connections = &cs
	}
	return out
}

// processStats reads runtime/metrics, which unlike ReadMemStats does not
// stop the world.
func processStats() ProcessStats {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	var heap uint64
	if sample[0].Value.Kind() == metrics.KindUint64 {
		heap = sample[0].Value.Uint64()
	}
	return ProcessStats{HeapBytes: heap, Goroutines: runtime.NumGoroutine()}
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.state())
}

// handlePause stops recording new flows (traffic still flows) and answers
// the new state; the hub also pushes a state/update at once.
func (s *Server) handlePause(w http.ResponseWriter, r *http.Request) {
	s.deps.Store.SetPaused(true)
	s.hub.pokeState()
	writeJSON(w, http.StatusOK, s.state())
}

// handleResume resumes recording.
func (s *Server) handleResume(w http.ResponseWriter, r *http.Request) {
	s.deps.Store.SetPaused(false)
	s.hub.pokeState()
	writeJSON(w, http.StatusOK, s.state())
}
