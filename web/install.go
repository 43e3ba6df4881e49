package web

import (
	"bytes"
	"html/template"
	"net/http"
)

// handleCAPEM serves the root certificate. It is public: a device must fetch
// it before it can trust anything else, and it holds no secret.
func (s *Server) handleCAPEM(w http.ResponseWriter, r *http.Request) {
	if s.deps.CA == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	// application/x-x509-ca-cert makes iOS and Android offer to install it.
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Header().Set("Content-Disposition", `attachment; filename="loupe-ca.pem"`)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(s.deps.CA.CertPEM())
}

// installPage is the public certificate install page. It shows no capture
// data, only the certificate's fingerprint and how to trust it.
var installPage = template.Must(template.New("install").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Loupe: install the certificate</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 46em; margin: 2em auto; padding: 0 1em; color: #222; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
code, .fp { font-family: ui-monospace, monospace; background: #f4f4f4; padding: 0 .25em; word-break: break-all; }
.download { display: inline-block; padding: .6em 1.2em; background: #2456c9; color: #fff; border-radius: 6px; text-decoration: none; }
</style>
</head>
<body>
<h1>Loupe root certificate</h1>
<p>To inspect HTTPS traffic, Loupe decrypts it with certificates signed by its own root certificate,
created for this installation only. Trust it on the devices whose traffic you want to see, and remove it
when you are done. Anyone holding its private key could read that traffic, so never share the data directory.</p>
<p><a class="download" href="/api/ca.pem" download="loupe-ca.pem">Download loupe-ca.pem</a></p>
{{if .Fingerprint}}<p>SHA-256 fingerprint: <span class="fp">{{.Fingerprint}}</span><br>
Check it matches what your device shows before trusting the certificate.</p>{{end}}
{{if .ProxyAddr}}<p>Proxy address: <code>{{.ProxyAddr}}</code></p>{{end}}
<p>A client that does not trust this certificate breaks off its HTTPS connections; each one appears in the
dashboard as a "TLS error" row that says what the client answered.</p>

<h2 id="browsers">Browsers: proxy settings</h2>
<ul>
<li>Simplest, on this computer: run <code>loupe browser</code>, or use "Open a browser" in the dashboard. It starts
Chromium, Chrome or Firefox with a temporary profile that goes through Loupe (localhost included) and trusts its
certificate, with nothing to install; the profile is deleted when the browser closes.</li>
<li>Set {{if .ProxyAddr}}<code>{{.ProxyAddr}}</code>{{else}}Loupe's proxy address{{end}} as both the HTTP and the HTTPS proxy
(the system's proxy settings, or the browser's own).</li>
<li>Chrome, Chromium and Edge never send <code>localhost</code>, <code>127.0.0.1</code> or <code>[::1]</code> through a proxy
unless told to: start them with
<code>--proxy-server=http://{{if .ProxyAddr}}{{.ProxyAddr}}{{else}}127.0.0.1:8080{{end}} --proxy-bypass-list="&lt;-loopback&gt;"</code>
to see requests to a local server.</li>
<li>Firefox does the same since version 67: set <code>network.proxy.allow_hijacking_localhost</code> to true in
<code>about:config</code>.</li>
</ul>

<h2>macOS</h2>
<ol>
<li>Download the certificate and open it: Keychain Access adds it to the <em>login</em> keychain.</li>
<li>Double-click "Loupe" in Keychain Access, open <em>Trust</em>, set "When using this certificate" to <em>Always Trust</em>.</li>
<li>Or in a terminal: <code>sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain loupe-ca.pem</code></li>
</ol>

<h2>Windows</h2>
<ol>
<li>Download the certificate, rename it to <code>loupe-ca.crt</code> if Windows doesn't open it, and double-click it.</li>
<li><em>Install Certificate</em> &rarr; Current User &rarr; "Place all certificates in the following store" &rarr;
<em>Trusted Root Certification Authorities</em> &rarr; Finish, and confirm the warning.</li>
<li>Or in an administrator prompt: <code>certutil -addstore -f ROOT loupe-ca.pem</code></li>
</ol>

<h2>Linux</h2>
<ul>
<li>Debian, Ubuntu: <code>sudo cp loupe-ca.pem /usr/local/share/ca-certificates/loupe-ca.crt &amp;&amp; sudo update-ca-certificates</code></li>
<li>Fedora, RHEL, Arch: <code>sudo trust anchor --store loupe-ca.pem</code> (or copy it to <code>/etc/pki/ca-trust/source/anchors/</code> and run <code>sudo update-ca-trust</code>)</li>
<li>Chrome and Chromium on Linux use their own store: Settings &rarr; Privacy and security &rarr; Security &rarr;
Manage certificates &rarr; Authorities &rarr; Import, and tick "Trust this certificate for identifying websites".</li>
<li>Single tools: <code>curl --cacert loupe-ca.pem</code>, <code>NODE_EXTRA_CA_CERTS=loupe-ca.pem</code>, <code>REQUESTS_CA_BUNDLE</code> (Python) pointing at a bundle that includes it.</li>
</ul>

<h2>iOS and iPadOS</h2>
<ol>
<li>Set the Wi-Fi network's HTTP proxy (Settings &rarr; Wi-Fi &rarr; &#9432; &rarr; Configure Proxy &rarr; Manual) to this proxy's address.</li>
<li>Open this page in Safari and download the certificate; allow the configuration profile.</li>
<li>Settings &rarr; General &rarr; VPN &amp; Device Management &rarr; the Loupe profile &rarr; Install.</li>
<li>Settings &rarr; General &rarr; About &rarr; Certificate Trust Settings &rarr; turn on full trust for the Loupe root.</li>
</ol>

<h2>Android</h2>
<ol>
<li>Set the Wi-Fi network's proxy (long-press the network &rarr; Modify &rarr; Advanced &rarr; Proxy: Manual) to this proxy's address.</li>
<li>Download the certificate, then Settings &rarr; Security &rarr; Encryption &amp; credentials &rarr; Install a certificate &rarr; CA certificate, and pick the file.</li>
<li>Since Android 7, apps trust user certificates only if they opt in (<code>networkSecurityConfig</code> with
<code>&lt;certificates src="user"/&gt;</code>, typical for debug builds); Chrome on Android does trust them.</li>
</ol>

<h2>Firefox</h2>
<ol>
<li>Firefox keeps its own store on every platform: Settings &rarr; Privacy &amp; Security &rarr; Certificates &rarr;
View Certificates &rarr; Authorities &rarr; Import, pick the file, tick "Trust this CA to identify websites".</li>
<li>Or set <code>security.enterprise_roots.enabled</code> to true in <code>about:config</code> to use the system store (Windows, macOS).</li>
</ol>
</body>
</html>
`))

// handleInstall serves the install page (public).
func (s *Server) handleInstall(w http.ResponseWriter, r *http.Request) {
	data := struct{ Fingerprint, ProxyAddr string }{ProxyAddr: s.proxyAddr()}
	if s.deps.CA != nil {
		data.Fingerprint = s.deps.CA.Fingerprint()
	}
	var buf bytes.Buffer
	if err := installPage.Execute(&buf, data); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(buf.Bytes())
}
