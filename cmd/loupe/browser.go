package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"loupe/browser"
)

// `loupe browser` starts a browser that uses a Loupe that is already
// running: it reads the CA from the proxy's own address (the install page
// serves it there, without a token), so it works whatever data directory
// that Loupe uses, and fails at once when no Loupe answers. It stays in
// the foreground until the browser exits (or Ctrl-C closes it), then
// removes the temporary profile. The dashboard's "Open a browser" does the
// same from the running Loupe itself (newLauncher).

// runBrowser is the browser subcommand; it returns the exit status.
func runBrowser(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var extra []string
	for i, a := range args {
		if a == "--" {
			args, extra = args[:i], args[i+1:]
			break
		}
	}
	fs := flag.NewFlagSet("loupe browser", flag.ContinueOnError)
	fs.SetOutput(stderr)
	proxyAddr := fs.String("proxy", "127.0.0.1:8080", "the running Loupe's proxy listener `address`")
	name := fs.String("browser", "", "which browser: a `name` from -list (chromium, google-chrome, firefox, …) or a path; default the first found")
	auth := fs.String("proxy-auth", "", "the running Loupe's -proxy-auth `user:pass`, to read its CA (the browser asks for it itself)")
	list := fs.Bool("list", false, "list the browsers found and exit")
	verbose := fs.Bool("v", false, "show the browser's own output")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: loupe browser [flags] [URL] [-- browser arguments]\n\n"+
			"Starts Chromium, Chrome, Edge, Brave or Firefox with a fresh temporary profile that uses a running\n"+
			"Loupe as its proxy for everything (localhost included) and trusts Loupe's CA for that profile only.\n"+
			"The profile is removed when the browser exits.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	found := browser.Find()
	if *list {
		if len(found) == 0 {
			fmt.Fprintln(stderr, "loupe browser:", browser.ErrNoBrowser)
			return 1
		}
		for _, f := range found {
			fmt.Fprintf(stdout, "%-22s %s\n", f.Name, f.Path)
		}
		return 0
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "loupe browser: one URL at most (browser arguments go after --): %q\n", fs.Args())
		return 2
	}
	f, err := browser.Pick(found, *name)
	if err != nil {
		fmt.Fprintln(stderr, "loupe browser:", err)
		return 1
	}
	addr := browser.ProxyHostPort(*proxyAddr)
	ca, err := fetchCA(ctx, addr, *auth)
	if err != nil {
		fmt.Fprintln(stderr, "loupe browser:", err)
		return 1
	}
	o := browser.Options{Proxy: addr, CA: ca, URL: fs.Arg(0), Args: extra, Stdout: stdout}
	if *verbose {
		o.Stderr = stderr
	}
	b, err := browser.Start(ctx, f, o)
	if err != nil {
		fmt.Fprintln(stderr, "loupe browser:", err)
		return 1
	}
	fmt.Fprintf(stderr, "Started %s (pid %d) through Loupe at %s, with a temporary profile; close it to finish.\n", f.Name, b.PID(), addr)
	if b.Note != "" {
		fmt.Fprintln(stderr, "Note:", b.Note)
	}
	select {
	case <-b.Done():
	case <-ctx.Done():
		b.Stop()
	}
	if err := b.Wait(); err != nil {
		fmt.Fprintf(stderr, "loupe browser: %s ended: %v\n", f.Name, err)
		return 1
	}
	return 0
}

// fetchCA reads the root certificate from a running Loupe's proxy listener.
func fetchCA(ctx context.Context, proxyAddr, auth string) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := "http://" + proxyAddr + "/ca.pem"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)))
	}
	// Straight to Loupe: never through a proxy from the environment.
	tr := &http.Transport{Proxy: nil}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("no Loupe proxy answers at %s (start loupe first, or give its address with -proxy): %w", proxyAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	switch {
	case resp.StatusCode == http.StatusProxyAuthRequired:
		return nil, fmt.Errorf("the Loupe at %s wants proxy authentication: give -proxy-auth user:pass", proxyAddr)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s answered %s: is this a Loupe proxy listener?", u, resp.Status)
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s is not a PEM certificate: is this a Loupe proxy listener?", u)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", u)
	}
	return cert, nil
}

// newLauncher builds the dashboard's browser launcher, for this Loupe's
// proxy listener and CA; Close stops the browsers it started.
func (m *Main) newLauncher() {
	if m.Browsers != nil {
		return
	}
	m.Browsers = &browser.Launcher{Options: func() browser.Options {
		return browser.Options{Proxy: browser.ProxyHostPort(m.ProxyAddr()), CA: m.CA.Certificate()}
	}}
	m.Closers = append(m.Closers, m.Browsers.Close)
}
