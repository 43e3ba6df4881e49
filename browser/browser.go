// Package browser starts a web browser wired to Loupe in one step: a fresh
// temporary profile that sends everything through Loupe's proxy, requests
// to localhost included, and trusts Loupe's CA for that profile only, so
// HTTPS works with no installation step.
//
// Chromium-based browsers (Chromium, Chrome, Edge, Brave) get
// --proxy-server with --proxy-bypass-list=<-loopback> (without it they
// never proxy localhost) and --ignore-certificate-errors-spki-list with the
// SHA-256 of the CA's public key. Chromium checks that list against the
// certificates the server sent, leaf and intermediates; Loupe sends its
// root after each leaf, so the root's key is in every chain it serves,
// whichever host it signed for. The flag only works with --user-data-dir,
// which the fresh profile is. Firefox gets a profile whose user.js sets the
// proxy (network.proxy.allow_hijacking_localhost too) and, when certutil is
// installed, the CA in the profile's own certificate store.
//
// It must never touch the user's own browser profiles or the system's
// trust store, never leave a temporary profile behind once the browser
// exited, and never signal a process it did not start.
package browser

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Kind is a family of browsers that take the same flags.
type Kind string

// The kinds of browser.
const (
	Chromium Kind = "chromium"
	Firefox  Kind = "firefox"
)

// Found is a browser installed on this machine. Its TypeScript twin lives
// in ui/src/api/types.ts.
type Found struct {
	// Name is the browser's short name ("chromium", "google-chrome",
	// "firefox"), what Launch and -browser take.
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	Path string `json:"path"`
}

// Info describes a launched browser for the dashboard. Its TypeScript twin
// lives in ui/src/api/types.ts.
type Info struct {
	ID      int       `json:"id"`
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Running bool      `json:"running"`
	// Note says what did not work as wished.
	Note string `json:"note,omitempty"`
	// Exit is how a browser that is no longer running ended.
	Exit string `json:"exit,omitempty"`
}

// ErrNoBrowser is the answer when no supported browser is installed.
var ErrNoBrowser = errors.New("no Chromium, Chrome, Edge, Brave or Firefox found: install one (Debian: apt install chromium), or give its path")

// ErrNoSuchBrowser is the answer when the browser asked for is not here.
var ErrNoSuchBrowser = errors.New("no such browser here")

// candidate is a place a browser may be installed.
type candidate struct {
	name string
	kind Kind
	// cmd is looked up in PATH; paths are tried as they are.
	cmd   string
	paths []string
}

func candidates() []candidate {
	pf, pf86, local := os.Getenv("ProgramFiles"), os.Getenv("ProgramFiles(x86)"), os.Getenv("LocalAppData")
	win := func(rel string) []string {
		var out []string
		for _, base := range []string{pf, pf86, local} {
			if base != "" {
				out = append(out, filepath.Join(base, rel))
			}
		}
		return out
	}
	return []candidate{
		{"chromium", Chromium, "chromium", append([]string{"/usr/bin/chromium", "/snap/bin/chromium",
			"/Applications/Chromium.app/Contents/MacOS/Chromium"}, win(`Chromium\Application\chrome.exe`)...)},
		{"chromium-browser", Chromium, "chromium-browser", []string{"/usr/bin/chromium-browser"}},
		{"google-chrome", Chromium, "google-chrome", append([]string{"/usr/bin/google-chrome",
			"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"}, win(`Google\Chrome\Application\chrome.exe`)...)},
		{"google-chrome-stable", Chromium, "google-chrome-stable", []string{"/usr/bin/google-chrome-stable"}},
		{"microsoft-edge", Chromium, "microsoft-edge", append([]string{
			"/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge"}, win(`Microsoft\Edge\Application\msedge.exe`)...)},
		{"brave-browser", Chromium, "brave-browser", []string{"/Applications/Brave Browser.app/Contents/MacOS/Brave Browser"}},
		{"firefox", Firefox, "firefox", append([]string{"/usr/bin/firefox", "/Applications/Firefox.app/Contents/MacOS/firefox"},
			win(`Mozilla Firefox\firefox.exe`)...)},
	}
}

// Find returns the browsers installed here, Chromium-based ones first, each
// binary once.
func Find() []Found {
	var out []Found
	seen := map[string]bool{}
	add := func(c candidate, path string) bool {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			real = path
		}
		if fi, err := os.Stat(real); err != nil || fi.IsDir() {
			return false
		}
		if !seen[real] {
			seen[real] = true
			out = append(out, Found{Name: c.name, Kind: c.kind, Path: path})
		}
		return true
	}
	for _, c := range candidates() {
		if p, err := exec.LookPath(c.cmd); err == nil && add(c, p) {
			continue
		}
		for _, p := range c.paths {
			if add(c, p) {
				break
			}
		}
	}
	return out
}

// Pick chooses a browser by name, kind or path ("" takes the first one
// found).
func Pick(found []Found, want string) (Found, error) {
	if want == "" {
		if len(found) == 0 {
			return Found{}, ErrNoBrowser
		}
		return found[0], nil
	}
	for _, f := range found {
		if f.Name == want || string(f.Kind) == want || f.Path == want {
			return f, nil
		}
	}
	if strings.ContainsAny(want, `/\`) {
		if _, err := os.Stat(want); err != nil {
			return Found{}, fmt.Errorf("browser %s: %w", want, err)
		}
		kind := Chromium
		if strings.Contains(strings.ToLower(filepath.Base(want)), "firefox") {
			kind = Firefox
		}
		return Found{Name: filepath.Base(want), Kind: kind, Path: want}, nil
	}
	names := make([]string, len(found))
	for i, f := range found {
		names[i] = f.Name
	}
	if len(names) == 0 {
		return Found{}, ErrNoBrowser
	}
	return Found{}, fmt.Errorf("%w: %q; found: %s", ErrNoSuchBrowser, want, strings.Join(names, ", "))
}

// SPKIHash is the base64 SHA-256 of cert's public key, as Chromium's
// --ignore-certificate-errors-spki-list takes it.
func SPKIHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ProxyHostPort is the address a local browser reaches a proxy listener
// at: a wildcard listener ("0.0.0.0:8080", "[::]:8080", ":8080") is
// reached at loopback.
func ProxyHostPort(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (o *Options) check() error {
	if o.Proxy == "" {
		return errors.New("browser: no proxy address")
	}
	if o.CA == nil {
		return errors.New("browser: no CA certificate")
	}
	return nil
}

// chromiumArgs are the arguments of a Chromium-based browser using profile.
func chromiumArgs(o Options, profile string) []string {
	args := []string{
		"--user-data-dir=" + profile,
		"--proxy-server=http://" + o.Proxy,
		// Without it Chromium sends nothing for localhost through a proxy.
		"--proxy-bypass-list=<-loopback>",
		"--ignore-certificate-errors-spki-list=" + SPKIHash(o.CA),
		"--no-first-run",
		"--no-default-browser-check",
		// Less of the browser's own traffic in the capture.
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--disable-domain-reliability",
		"--no-pings",
	}
	args = append(args, o.Args...)
	if o.URL != "" {
		args = append(args, o.URL)
	}
	return args
}

// firefoxProfile writes a Firefox profile using the proxy into dir, and
// the CA into its certificate store when certutil is installed. It returns
// a note for the user when the CA could not be added.
func firefoxProfile(o Options, dir string) (string, error) {
	host, port, err := net.SplitHostPort(o.Proxy)
	if err != nil {
		return "", fmt.Errorf("proxy address %q: %w", o.Proxy, err)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("proxy address %q: bad port", o.Proxy)
	}
	prefs := map[string]string{
		"network.proxy.type": "1", "network.proxy.http": strconv.Quote(host), "network.proxy.http_port": port,
		"network.proxy.ssl": strconv.Quote(host), "network.proxy.ssl_port": port,
		"network.proxy.share_proxy_settings": "true", "network.proxy.no_proxies_on": `""`,
		"network.proxy.allow_hijacking_localhost":    "true",
		"browser.shell.checkDefaultBrowser":          "false",
		"browser.startup.homepage_override.mstone":   `"ignore"`,
		"datareporting.policy.dataSubmissionEnabled": "false",
		"toolkit.telemetry.reportingpolicy.firstRun": "false",
		"app.normandy.enabled":                       "false",
		"browser.aboutwelcome.enabled":               "false",
	}
	var b strings.Builder
	for k, v := range prefs {
		fmt.Fprintf(&b, "user_pref(%q, %s);\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		return "Firefox does not trust Loupe's CA in this profile: install certutil (Debian: libnss3-tools) or import ca.pem in its settings", nil
	}
	pemFile := filepath.Join(dir, "loupe-ca.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.CA.Raw}), 0o600); err != nil {
		return "", err
	}
	db := "sql:" + dir
	for _, args := range [][]string{{"-N", "-d", db, "--empty-password"}, {"-A", "-d", db, "-t", "C,,", "-n", "Loupe CA", "-i", pemFile}} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			return fmt.Sprintf("Firefox does not trust Loupe's CA in this profile: certutil %s: %v: %s", args[0], err, strings.TrimSpace(string(out))), nil
		}
	}
	return "", nil
}

// command builds the browser's command for a new profile in dir.
func command(f Found, o Options, dir string) (*exec.Cmd, string, error) {
	switch f.Kind {
	case Firefox:
		note, err := firefoxProfile(o, dir)
		if err != nil {
			return nil, "", err
		}
		args := []string{"-no-remote", "-new-instance", "-profile", dir}
		args = append(args, o.Args...)
		if o.URL != "" {
			args = append(args, o.URL)
		}
		return exec.Command(f.Path, args...), note, nil
	default:
		if runtime.GOOS == "darwin" && strings.HasSuffix(f.Path, ".app") {
			return nil, "", fmt.Errorf("browser %s: give the binary inside the .app (Contents/MacOS/…)", f.Path)
		}
		return exec.Command(f.Path, chromiumArgs(o, dir)...), "", nil
	}
}
