package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// smallBody is the ~200 B answer of /small.
var smallBody = []byte(`{"id":42,"name":"loupe-bench","items":["alpha","beta","gamma","delta"],"note":"a small JSON answer of about two hundred bytes, the size of a typical API response header-sized payload"}` + "\n")

// origin is one HTTP server on 127.0.0.1 with the handlers every scenario
// needs, and counters the scenarios read.
type origin struct {
	srv  *http.Server
	ln   net.Listener
	addr string
	tls  bool

	// inflight counts handlers running, by kind ("slow", "stream").
	slowInflight   atomic.Int64
	streamInflight atomic.Int64

	// accepted counts connections ever opened to this origin.
	accepted atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
}

// origins are the servers a run uses: plain HTTP, HTTPS (self-signed) and a
// separate streaming server for the override scenario, whose connections
// are counted on their own.
type origins struct {
	plain, tls, override *origin
	certPool             *x509.CertPool // trusts the HTTPS origin
}

func startOrigins() (*origins, error) {
	cert, pool, err := selfSigned()
	if err != nil {
		return nil, err
	}
	o := &origins{certPool: pool}
	if o.plain, err = startOrigin(nil); err != nil {
		return nil, err
	}
	if o.tls, err = startOrigin(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}); err != nil {
		o.close()
		return nil, err
	}
	if o.override, err = startOrigin(nil); err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

func (o *origins) close() {
	for _, s := range []*origin{o.plain, o.tls, o.override} {
		if s != nil {
			s.srv.Close()
		}
	}
}

// closeIdle closes every origin's idle connections.
func (o *origins) closeIdle() {
	for _, s := range []*origin{o.plain, o.tls, o.override} {
		s.closeIdle()
	}
}

func startOrigin(tc *tls.Config) (*origin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("origin listen: %w", err)
	}
	o := &origin{ln: ln, addr: ln.Addr().String(), conns: make(map[net.Conn]http.ConnState)}
	mux := http.NewServeMux()
	mux.HandleFunc("/small", o.small)
	mux.HandleFunc("/kb", o.kilobyte)
	mux.HandleFunc("/mb", o.sized(1<<20))
	mux.HandleFunc("/big", o.big)
	mux.HandleFunc("/stream", o.stream)
	mux.HandleFunc("/ovr-stream", o.stream) // only the override rule matches this path
	mux.HandleFunc("/sse", o.sse)
	mux.HandleFunc("/slow", o.slow)
	o.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnState:         o.track,
		// Origin-side write errors (a proxy that hangs up) are expected.
		ErrorLog: discardLogger(),
	}
	if tc != nil {
		o.tls = true
		o.srv.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
	}
	go func() {
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(fmt.Sprintf("origin serve: %v", err))
		}
	}()
	return o, nil
}

// url gives the absolute URL of path on this origin.
func (o *origin) url(path string) string {
	scheme := "http"
	if o.tls {
		scheme = "https"
	}
	return scheme + "://" + o.addr + path
}

func (o *origin) track(c net.Conn, st http.ConnState) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(o.conns, c)
		return
	}
	if st == http.StateNew {
		o.accepted.Add(1)
	}
	o.conns[c] = st
}

// connCounts reports open connections by state.
func (o *origin) connCounts() (active, idle int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, st := range o.conns {
		switch st {
		case http.StateActive:
			active++
		case http.StateIdle:
			idle++
		}
	}
	return active, idle
}

// closeIdle closes idle keep-alive connections (the proxy's pooled ones), so
// that the proxy's goroutines and fds can be compared with a baseline; new
// connections are kept alive again afterwards.
func (o *origin) closeIdle() {
	o.srv.SetKeepAlivesEnabled(false)
	o.srv.SetKeepAlivesEnabled(true)
}

func (o *origin) small(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(smallBody)))
	w.Write(smallBody)
}

// kilobyte answers 1 KB of JSON text that names the request, so that each
// recorded body differs (as real small API answers do).
func (o *origin) kilobyte(w http.ResponseWriter, r *http.Request) {
	var b [1024]byte
	n := copy(b[:], `{"query":"`+r.URL.RawQuery+`","text":"`)
	for i := n; i < len(b)-2; i++ {
		b[i] = "lorem ipsum dolor sit amet "[i%27]
	}
	copy(b[len(b)-2:], `"}`)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "1024")
	w.Write(b[:])
}

// block is reused for every large body: content does not matter, only size.
var block = func() []byte {
	b := make([]byte, 256<<10)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

func (o *origin) sized(n int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeSized(w, n) }
}

func (o *origin) big(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || n < 0 {
		http.Error(w, "size?", http.StatusBadRequest)
		return
	}
	writeSized(w, n)
}

func writeSized(w http.ResponseWriter, n int64) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	for n > 0 {
		k := min(n, int64(len(block)))
		if _, err := w.Write(block[:k]); err != nil {
			return
		}
		n -= k
	}
}

// stream sends ?chunks= chunks of 100 KB, one every 20 ms, chunked and
// flushed: the incident-2 origin.
func (o *origin) stream(w http.ResponseWriter, r *http.Request) {
	o.streamInflight.Add(1)
	defer o.streamInflight.Add(-1)
	chunks, _ := strconv.Atoi(r.URL.Query().Get("chunks"))
	if chunks <= 0 {
		chunks = 100
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	rc := http.NewResponseController(w)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := range chunks {
		if i > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
		// A write deadline: a reader that stalls for good cannot hold the
		// handler forever, but one that stalls 30 s (a stuck proxy) shows.
		rc.SetWriteDeadline(time.Now().Add(60 * time.Second))
		if _, err := w.Write(block[:100<<10]); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// sse sends ?events= server-sent events, one every 20 ms.
func (o *origin) sse(w http.ResponseWriter, r *http.Request) {
	events, _ := strconv.Atoi(r.URL.Query().Get("events"))
	if events <= 0 {
		events = 10
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := range events {
		if i > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		if _, err := fmt.Fprintf(w, "id: %d\ndata: {\"n\":%d}\n\n", i, i); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// slow answers /small's body after ?ms= milliseconds.
func (o *origin) slow(w http.ResponseWriter, r *http.Request) {
	o.slowInflight.Add(1)
	defer o.slowInflight.Add(-1)
	ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return
	case <-t.C:
	}
	o.small(w, r)
}

// selfSigned makes the HTTPS origin's certificate for 127.0.0.1.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bench origin"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("origin certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// ctxSleep sleeps d or until ctx ends.
func ctxSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
