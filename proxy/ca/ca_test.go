package ca

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestLoadOrCreateCreatesThenReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	first, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	second, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !bytes.Equal(first.CertPEM(), second.CertPEM()) {
		t.Error("reload gave a different certificate")
	}
	if first.Fingerprint() != second.Fingerprint() {
		t.Errorf("fingerprint changed: %s vs %s", first.Fingerprint(), second.Fingerprint())
	}

	root := first.Certificate()
	if !root.IsCA || !root.BasicConstraintsValid || root.MaxPathLen != 0 || !root.MaxPathLenZero {
		t.Errorf("root constraints: IsCA=%v valid=%v maxPathLen=%d zero=%v", root.IsCA, root.BasicConstraintsValid, root.MaxPathLen, root.MaxPathLenZero)
	}
	if root.KeyUsage&x509.KeyUsageCertSign == 0 || root.KeyUsage&x509.KeyUsageCRLSign == 0 {
		t.Errorf("root key usage %v lacks certSign or crlSign", root.KeyUsage)
	}
	if !strings.HasPrefix(root.Subject.CommonName, "Loupe CA ") || len(root.Subject.CommonName) <= len("Loupe CA ") {
		t.Errorf("root name %q: want \"Loupe CA <suffix>\"", root.Subject.CommonName)
	}
	if years := root.NotAfter.Sub(root.NotBefore).Hours() / 24 / 365; years < 9.9 || years > 10.1 {
		t.Errorf("root validity %.1f years, want about 10", years)
	}

	for _, tc := range []struct {
		path string
		mode os.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, KeyFile), 0o600},
		{filepath.Join(dir, CertFile), 0o644},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.mode {
			t.Errorf("%s mode %o, want %o", filepath.Base(tc.path), got, tc.mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("data dir holds %d entries, want only the two CA files (no temp files left)", len(entries))
	}
}

func TestTwoInstallsDiffer(t *testing.T) {
	a, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if a.Certificate().Subject.CommonName == b.Certificate().Subject.CommonName {
		t.Errorf("two installs share the name %q", a.Certificate().Subject.CommonName)
	}
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("two installs share a fingerprint")
	}
}

func TestFingerprintFormat(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Certificate().Raw)
	want := strings.ToUpper(strings.Join(strings.Split(fmt.Sprintf("% x", sum[:]), " "), ":"))
	if got := c.Fingerprint(); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
}

func TestLoadRejectsBadFilesWithoutTouchingThem(t *testing.T) {
	good := t.TempDir()
	if _, err := LoadOrCreate(good); err != nil {
		t.Fatal(err)
	}
	goodCert, _ := os.ReadFile(filepath.Join(good, CertFile))
	goodKey, _ := os.ReadFile(filepath.Join(good, KeyFile))
	other := t.TempDir()
	if _, err := LoadOrCreate(other); err != nil {
		t.Fatal(err)
	}
	otherKey, _ := os.ReadFile(filepath.Join(other, KeyFile))

	tests := []struct {
		name     string
		cert     []byte // nil = file absent
		key      []byte
		wantFile string // the file the error must name
		wantText string
	}{
		{"garbage cert", []byte("not a pem"), goodKey, CertFile, "no PEM block"},
		{"garbage key", goodCert, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), KeyFile, "parse key"},
		{"key in cert file", goodKey, goodKey, CertFile, "want CERTIFICATE"},
		{"mismatched pair", goodCert, otherKey, KeyFile, "does not belong"},
		{"key missing", goodCert, nil, KeyFile, "missing"},
		{"cert missing", nil, goodKey, CertFile, "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.cert != nil {
				if err := os.WriteFile(filepath.Join(dir, CertFile), tc.cert, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.key != nil {
				if err := os.WriteFile(filepath.Join(dir, KeyFile), tc.key, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadOrCreate(dir)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, tc.wantFile)) || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q: want it to name %s and say %q", err, tc.wantFile, tc.wantText)
			}
			for file, want := range map[string][]byte{CertFile: tc.cert, KeyFile: tc.key} {
				got, err := os.ReadFile(filepath.Join(dir, file))
				if want == nil {
					if err == nil {
						t.Errorf("%s was created", file)
					}
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s was modified", file)
				}
			}
		})
	}
}

func TestLeafProperties(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Every leaf below is issued after this (certificates keep whole
	// seconds), some from the cache of an earlier case.
	before := time.Now().Truncate(time.Second)
	tests := []struct {
		host    string
		wantDNS string
		wantIP  string
	}{
		{"example.test", "example.test", ""},
		{"Example.TEST:443", "example.test", ""},
		{"example.test.", "example.test", ""},
		{"127.0.0.1", "", "127.0.0.1"},
		{"127.0.0.1:8443", "", "127.0.0.1"},
		{"[::1]", "", "::1"},
		{"[::1]:443", "", "::1"},
		{"::1", "", "::1"},
		{"fe80::1%eth0", "", "fe80::1"},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			cert, err := c.Leaf(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			leaf := cert.Leaf
			opts := x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			if tc.wantDNS != "" {
				if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != tc.wantDNS || len(leaf.IPAddresses) != 0 {
					t.Errorf("SANs DNS=%v IP=%v, want DNS %s", leaf.DNSNames, leaf.IPAddresses, tc.wantDNS)
				}
				opts.DNSName = tc.wantDNS
			} else {
				if len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != tc.wantIP || len(leaf.DNSNames) != 0 {
					t.Errorf("SANs DNS=%v IP=%v, want IP %s", leaf.DNSNames, leaf.IPAddresses, tc.wantIP)
				}
				opts.DNSName = tc.wantIP
			}
			if _, err := leaf.Verify(opts); err != nil {
				t.Errorf("verify: %v", err)
			}
			if d := leaf.NotAfter.Sub(leaf.NotBefore); d > 397*24*time.Hour {
				t.Errorf("validity %v exceeds 397 days", d)
			}
			// Backdated one hour from the moment of issue.
			if nb := leaf.NotBefore; nb.Before(before.Add(-time.Hour)) || nb.After(after.Add(-time.Hour)) {
				t.Errorf("NotBefore %v, want one hour before it was issued (between %v and %v)", nb, before.Add(-time.Hour), after.Add(-time.Hour))
			}
			if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[1], c.Certificate().Raw) {
				t.Error("chain does not carry the root after the leaf")
			}
		})
	}
}

func TestLeafRejectsBadHosts(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"", " ", "[]", "a b", "a/b", strings.Repeat("a", 254)} {
		if _, err := c.Leaf(host); err == nil {
			t.Errorf("Leaf(%q): no error", host)
		}
	}
}

func TestLeafSingleFlight(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		certs = make([]*tls.Certificate, n)
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			certs[i], errs[i] = c.Leaf("same.test")
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if certs[i] != certs[0] {
			t.Fatalf("call %d got a different certificate", i)
		}
	}
	if got := c.generated.Load(); got != 1 {
		t.Errorf("%d concurrent calls generated %d certificates, want 1", n, got)
	}
}

func TestLeafCacheIsBounded(t *testing.T) {
	c, err := Open(t.TempDir(), Options{CacheSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a.test", "b.test", "a.test", "c.test"} { // b is the least recent when c arrives
		if _, err := c.Leaf(h); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.generated.Load(); got != 3 {
		t.Fatalf("generated %d, want 3 (a hit in between)", got)
	}
	if got := c.cache.len(); got != 2 {
		t.Errorf("cache holds %d, want 2", got)
	}
	if _, err := c.Leaf("a.test"); err != nil { // still cached
		t.Fatal(err)
	}
	if got := c.generated.Load(); got != 3 {
		t.Errorf("a.test was evicted: generated %d, want 3", got)
	}
	if _, err := c.Leaf("b.test"); err != nil { // evicted: generated again
		t.Fatal(err)
	}
	if got := c.generated.Load(); got != 4 {
		t.Errorf("b.test was not evicted: generated %d, want 4", got)
	}
}

func TestLeafRenewedBeforeExpiry(t *testing.T) {
	c, err := Open(t.TempDir(), Options{LeafValidity: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.now = func() time.Time { return now }
	first, err := c.Leaf("renew.test")
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(20 * time.Hour) // 1 h backdate + 48 h validity: 29 h left, still cached
	if again, _ := c.Leaf("renew.test"); again != first {
		t.Error("leaf renewed too early")
	}
	now = now.Add(10 * time.Hour) // 19 h left: renewed
	if again, _ := c.Leaf("renew.test"); again == first {
		t.Error("leaf not renewed within a day of expiry")
	}
}

func TestTLSHandshake(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", c.TLSConfig("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // cleanups run last-in first-out: close, then wait
	t.Cleanup(func() { ln.Close() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				if err := conn.(*tls.Conn).Handshake(); err != nil {
					return
				}
				io.WriteString(conn, "hello")
			})
		}
	})

	tests := []struct {
		name       string
		serverName string // "" = none: Go sends no SNI for IPs and verifies the IP SAN
		protos     []string
		wantProto  string
		wantSAN    string
	}{
		{"DNS name via SNI", "example.test", []string{"h2", "http/1.1"}, "h2", "example.test"},
		{"IP without SNI", "", []string{"http/1.1"}, "http/1.1", "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &tls.Dialer{
				NetDialer: &net.Dialer{Timeout: 5 * time.Second},
				Config:    &tls.Config{RootCAs: c.Pool(), ServerName: tc.serverName, NextProtos: tc.protos},
			}
			conn, err := d.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			st := conn.(*tls.Conn).ConnectionState()
			if st.NegotiatedProtocol != tc.wantProto {
				t.Errorf("ALPN %q, want %q", st.NegotiatedProtocol, tc.wantProto)
			}
			leaf := st.PeerCertificates[0]
			if got := append(leaf.DNSNames, ipStrings(leaf.IPAddresses)...); len(got) != 1 || got[0] != tc.wantSAN {
				t.Errorf("SANs %v, want [%s]", got, tc.wantSAN)
			}
			got, _ := io.ReadAll(conn)
			if string(got) != "hello" {
				t.Errorf("read %q", got)
			}
		})
	}

	// An untrusting client must fail: proves the pool is what made it work.
	d := &tls.Dialer{Config: &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "example.test"}}
	if conn, err := d.Dial("tcp", ln.Addr().String()); err == nil {
		conn.Close()
		t.Error("handshake succeeded without trusting the CA")
	}
}

func TestTLSConfigMinVersion(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.TLSConfig("")
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
	if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Error("no SNI and no fallback: want an error")
	}
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func BenchmarkLeafIssue(b *testing.B) {
	c, err := Open(b.TempDir(), Options{CacheSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := c.Leaf(fmt.Sprintf("h%d.test", i)); err != nil {
			b.Fatal(err)
		}
	}
}
