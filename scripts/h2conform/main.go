// Command h2conform serves the two helpers that let h2spec, an HTTP/2
// conformance suite without proxy support, test Loupe's intercepted HTTP/2
// (see scripts/h2spec.sh):
//
//	h2conform origin -cert FILE
//	    an HTTPS origin on 127.0.0.1 speaking HTTP/2 (Go's own server, the
//	    baseline), with a fresh self-signed certificate for 127.0.0.1 written
//	    to FILE so that Loupe can verify it (SSL_CERT_FILE).
//	h2conform shim -proxy ADDR -target ADDR
//	    a TCP listener on 127.0.0.1; for each connection it opens a CONNECT
//	    tunnel through the proxy to the target and relays bytes both ways,
//	    so h2spec's TLS and HTTP/2 reach Loupe's MITM server.
//
// Each prints "origin ADDR" or "shim ADDR" on stdout once it listens, and
// runs until SIGINT or SIGTERM, or -lifetime (default 10 minutes) at most.
// It binds and dials only what it is told, on 127.0.0.1 by default.
//
// It must never be used as a general relay: it forwards only to the one
// target it was given, through the one proxy.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "h2conform:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: h2conform origin|shim [flags]")
	}
	fs := flag.NewFlagSet("h2conform "+args[0], flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen `address`")
	lifetime := fs.Duration("lifetime", 10*time.Minute, "stop after this long at most")
	cert := fs.String("cert", "", "origin: write the certificate (PEM) to this `file`")
	proxyAddr := fs.String("proxy", "", "shim: the proxy's `address`")
	target := fs.String("target", "", "shim: the CONNECT target `address`")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer l.Close()
	switch args[0] {
	case "origin":
		if *cert == "" {
			return errors.New("origin: -cert is required")
		}
		return serveOrigin(ctx, l, *cert)
	case "shim":
		if *proxyAddr == "" || *target == "" {
			return errors.New("shim: -proxy and -target are required")
		}
		return serveShim(ctx, l, *proxyAddr, *target)
	default:
		return fmt.Errorf("unknown mode %q: want origin or shim", args[0])
	}
}

// serveOrigin serves HTTP/2 (and HTTP/1.1) over TLS on l with Go's own
// server: every request's body is read to its end and answered with a short
// text, which is what h2spec's cases need.
func serveOrigin(ctx context.Context, l net.Listener, certFile string) error {
	cert, certPEM, err := selfSigned()
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "h2conform origin\n")
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	fmt.Printf("origin %s\n", l.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ServeTLS(l, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "h2conform origin"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// serveShim relays every connection on l through a CONNECT tunnel to
// target, until ctx ends; then it cuts the connections still open.
func serveShim(ctx context.Context, l net.Listener, proxyAddr, target string) error {
	fmt.Printf("shim %s\n", l.Addr())
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		_ = l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := relay(ctx, c, proxyAddr, target); err != nil {
				slog.Warn("relay", "err", err)
			}
		}()
	}
}

// relay opens the tunnel for client and copies bytes both ways until both
// directions ended (or ctx did).
func relay(ctx context.Context, client net.Conn, proxyAddr, target string) error {
	defer client.Close()
	d := net.Dialer{Timeout: 5 * time.Second}
	up, err := d.DialContext(ctx, "tcp", proxyAddr)
	if err != nil {
		return err
	}
	defer up.Close()
	stop := context.AfterFunc(ctx, func() {
		_ = client.Close()
		_ = up.Close()
	})
	defer stop()
	_ = up.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(up, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target); err != nil {
		return err
	}
	br := bufio.NewReader(up)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("CONNECT %s: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CONNECT %s: %s", target, resp.Status)
	}
	_ = up.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	pipe := func(dst net.Conn, src io.Reader) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go pipe(up, client)
	go pipe(client, br) // br holds whatever followed the CONNECT answer
	<-done
	<-done
	return nil
}
