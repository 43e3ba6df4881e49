// Package h1 is Loupe's pooled HTTP/1.1 client for origins: an
// http.RoundTripper that sends requests without a body (GET, HEAD, OPTIONS,
// DELETE: most of what a proxy forwards) over pooled HTTP/1.1 connections,
// in the caller's own goroutine, to plain-HTTP origins and to HTTPS origins
// that answered over HTTP/1.1 before. Every other request goes to a fallback
// RoundTripper (Loupe's http.Transport), whose answers tell the client which
// HTTPS origins speak HTTP/1.1; an origin that offers HTTP/2 stays there.
//
// # What it replaces, and why
//
// For these requests it replaces net/http's Transport. The Transport gives
// every origin connection a reader and a writer goroutine, hands each
// request and response between them over channels and reads ahead on idle
// connections: in a proxy's profile, most of the cost of a small request,
// and per request in flight two goroutine stacks and two 4 KiB buffers.
// Here one goroutine writes the head and reads the answer; a connection in
// use holds a 4 KiB read buffer, a write buffer is borrowed for the head,
// and an idle connection holds only its socket. Measured on Loupe together
// with serving plain requests outside goproxy's handler (README,
// "Performance"): proxy memory per request in flight 56 → 35 KB, proxy CPU
// per small request about 75 → 62 µs, and allocations per small proxied
// GET (BenchmarkSmallGET in proxy, client and origin included) 223 → 144
// over that round of work.
//
// The wire format is the standard library's: Request.Write writes the head
// and http.ReadResponse parses the answer and its framing. What the package
// owns is the connection's life: dialing (through the caller's dial
// function, so the caller's connection timings keep working; TLS handshakes
// report to the request's httptrace hooks like the Transport's), the idle
// pool, the check before reuse, one retry, and when a connection is closed.
//
// The response bodies of the requests it carries itself have a Ready() bool
// method: it reports, without blocking, whether the next Read returns at
// once. A copy loop uses it to push out what it wrote before it waits for
// the origin.
//
// # What it must never do
//
//   - Read bytes that arrived after an answer as the answer to the next
//     request: an idle connection is peeked before reuse and every 500 ms,
//     and one holding unread or unsolicited bytes is closed, never pooled.
//   - Pool a connection whose answer was not read to its end.
//   - Carry a request with a body, trailers or Expect, an upgrade, or a
//     method other than GET, HEAD, OPTIONS and DELETE (its one retry is safe
//     only for those), or speak anything but HTTP/1.1.
//   - Weaken TLS: origins are verified as the given tls.Config says, and a
//     connection that negotiated another protocol is closed.
//   - Consult the environment (no proxy variables), or change the request
//     beyond what Request.Write does for the Transport too (Host, and a
//     User-Agent when the header is absent): no Accept-Encoding is added and
//     nothing is decompressed.
//   - Start a goroutine per connection or leave one behind: one sweeper
//     runs while the pool holds connections, and Close ends it.
package h1
