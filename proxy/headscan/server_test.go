package headscan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// splitReader hands out data in pieces whose sizes cycle through splits
// (1 to 64 bytes each; whole reads when splits is empty), feeding every
// byte it hands out to a scanner first, as Conn.Read does.
type splitReader struct {
	data   []byte
	splits []byte
	i      int
	s      *scanner
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data))
	if len(r.splits) > 0 {
		n = min(n, 1+int(r.splits[r.i%len(r.splits)])%64)
		r.i++
	}
	copy(p, r.data[:n])
	r.data = r.data[n:]
	r.s.feed(p[:n]) // no recover: a panic here is a finding
	return n, nil
}

// rawHasBoth reports whether the head at the start of raw has both
// Content-Length and Transfer-Encoding fields, as net/http's header parser
// sees them (ReadRequest drops Content-Length when the body is chunked).
func rawHasBoth(raw []byte) bool {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	if _, err := tp.ReadLine(); err != nil {
		return false
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return false
	}
	_, cl := h["Content-Length"]
	_, te := h["Transfer-Encoding"]
	return cl && te
}

// compareWithServer reads data the way net/http's HTTP/1 server reads a
// connection (http.ReadRequest on a 4 KiB bufio.Reader, the tolerance for
// CR/LF after a POST, each body read to its end, the connection given up at
// the first error or Close), while a scanner sees every byte the server
// reads, and takes the scanner's verdict for each request the server
// accepts, as the proxy does. It returns a description of the first
// disagreement, or "" and the number of requests served.
func compareWithServer(data, splits []byte) (string, int) {
	s := &scanner{}
	sr := &splitReader{data: data, splits: splits, s: s}
	br := bufio.NewReaderSize(sr, 4096)
	consumed := func() int { return len(data) - len(sr.data) - br.Buffered() }
	lastPOST := false
	for served := 0; ; served++ {
		if lastPOST {
			peek, _ := br.Peek(4)
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			_, _ = br.Discard(n)
		}
		start := consumed()
		req, err := http.ReadRequest(br)
		if err != nil {
			if err == io.EOF && start == len(data) {
				// A clean end: the scanner must be waiting for a head too.
				if s.st != stStart || s.qHead < len(s.q) || (s.err != nil && !errors.Is(s.err, errUnfollowed)) {
					return fmt.Sprintf("clean end after %d requests, scanner state %d queue %d err %v", served, s.st, len(s.q)-s.qHead, s.err), served
				}
			}
			return "", served
		}
		// conn.readRequest: versions the server serves.
		if req.ProtoMajor != 1 && !(req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*") {
			return "", served
		}
		lastPOST = req.Method == "POST"
		conflict := rawHasBoth(data[start:])
		_, verdict := s.next()
		switch {
		case conflict && verdict == nil:
			return fmt.Sprintf("request %d has both Content-Length and Transfer-Encoding; the scanner let it through", served+1), served
		case conflict:
			return "", served // refused; the proxy closes the connection
		case verdict != nil && !errors.Is(verdict, errUnfollowed):
			return fmt.Sprintf("request %d, accepted by net/http, refused: %v", served+1, verdict), served
		case verdict != nil:
			return "", served
		}
		// conn.serve: unknown expectations close the connection.
		if req.Header.Get("Expect") != "" && !strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
			return "", served
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			// A corrupt body: the server closes. When its chunked reader
			// rejected the framing, the scanner must have stopped too.
			if chunkedRejects[err.Error()] && s.st != stDone {
				return fmt.Sprintf("request %d: net/http rejects its chunked body (%v); the scanner goes on", served+1, err), served
			}
			return "", served + 1
		}
		if req.Close {
			return "", served + 1
		}
	}
}

// FuzzServerView checks the scanner against net/http itself: on every
// stream, split into reads of any size, each request the server accepts
// gets the scanner's verdict in order, a request with both Content-Length
// and Transfer-Encoding is always refused, and no other request is refused
// except for framing the scanner deliberately does not follow.
//
//	go test -fuzz FuzzServerView -fuzztime 3m ./proxy/headscan
func FuzzServerView(f *testing.F) {
	for _, seed := range seeds() {
		f.Add([]byte(seed), []byte{})
		f.Add([]byte(seed), []byte{0})
		f.Add([]byte(seed), []byte{2, 9, 0, 63})
	}
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		if msg, _ := compareWithServer(data, splits); msg != "" {
			t.Fatalf("%s\nstream %q splits %v", msg, data, splits)
		}
	})
}

// chunkedRejects are the errors of net/http's chunked reader
// (net/http/internal/chunked.go) for framing it rejects.
var chunkedRejects = map[string]bool{
	"invalid byte in chunk length":                true,
	"http chunk length too large":                 true,
	"empty hex number for chunk length":           true,
	"chunked line ends with bare LF":              true,
	"invalid CR in chunked line":                  true,
	"header line too long":                        true,
	"malformed chunked encoding":                  true,
	"chunked encoding contains too much non-data": true,
}

const chunkedPost = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
const nextGet = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"

// seeds are streams that probe where a scanner and net/http could part:
// chunk-size lines, Content-Length and Transfer-Encoding values, folding,
// pipelining, trailers, versions, the CR/LF tolerance after POST.
func seeds() []string {
	var out []string
	for _, size := range []string{
		"5", "-1", "-5", "+5", "0x5", "0X5", " 5", "5 ", "5\t", "5 ;x", "5;x", "5; x=y", `5;x="a;b"`, "5 x",
		"05", "00000000000000005", "0000000000000005", "ffffffffffffffff", "10000000000000000", "8000000000000000",
		"7fffffffffffffff", "FfFf", "g", "", ";", "5\r", "5;\r", "5-", "1-1", "5;a\rb", "1" + strings.Repeat(" ", 300),
		"1;" + strings.Repeat("e", 4090), "1;" + strings.Repeat("e", 4091), "1;" + strings.Repeat("e", 5000),
	} {
		out = append(out,
			chunkedPost+size+"\r\nhello\r\n0\r\n\r\n"+nextGet,
			chunkedPost+size+"\nhello\r\n0\r\n\r\n"+nextGet,
			"GET / HTTP/1.1\r\nHost: a\r\n\r\n"+chunkedPost+size+"\r\nx",
		)
	}
	for _, cl := range []string{"5", "+5", "-5", " 5 ", "5,5", "0x5", "05", "", "abc", "9223372036854775807",
		"9223372036854775808", "18446744073709551616", "000000000000000000005", "5\t"} {
		out = append(out,
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "+cl+"\r\n\r\nhello"+nextGet,
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: "+cl+"\r\n\r\nhello"+nextGet,
		)
	}
	for _, te := range []string{"chunked", "Chunked", "CHUNKED", " chunked ", "chunked, chunked", "gzip, chunked",
		"identity", "", "chunked\r\nTransfer-Encoding: chunked", "chunked\r\n x", "x\r\n chunked", "chunkeD\t"} {
		out = append(out,
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "+te+"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"+nextGet,
			"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: "+te+"\r\n\r\n"+nextGet,
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "+te+"\r\n\r\n0\r\n\r\n"+nextGet,
		)
	}
	return append(out,
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n"+nextGet,
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 52\r\n\r\nX: 1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"+nextGet,
		"POST / HTTP/1.1\r\ncontent-length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n\r\n\r\n"+nextGet,
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n\n\n\n\n\n"+nextGet,
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n"+nextGet,
		"POST / HTTP/1.1\r\nHost: a\r\nX: a\r\n Content-Length: 5\r\n\r\n"+nextGet,
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n 5\r\n\r\nhello"+nextGet,
		"POST / HTTP/1.1\r\n Host: a\r\n\r\n"+nextGet,
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello"+nextGet,
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\nhello"+nextGet,
		"POST / HTTP/1.1\r\nHost: a\r\nTranſfer-Encoding: chunked\r\n\r\n"+nextGet,
		chunkedPost+"0\r\nX: y\r\n\r\n"+nextGet,
		chunkedPost+"0\r\nX: y\n\n"+nextGet,
		chunkedPost+"0\r\n\n"+nextGet,
		chunkedPost+"0\r\n X: y\r\n\r\n"+nextGet,
		chunkedPost+"5\r\nhelloXX0\r\n\r\n"+nextGet,
		chunkedPost+"5\r\nhello\n0\r\n\r\n"+nextGet,
		chunkedPost+strings.Repeat("1\r\na\r\n", 3000)+"0\r\n\r\n"+nextGet,
		chunkedPost+strings.Repeat("1;"+strings.Repeat("e", 100)+"\r\na\r\n", 200)+"0\r\n\r\n"+nextGet,
		"GET / HTTP/1.0\r\n\r\n"+nextGet,
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"+nextGet,
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"+nextGet,
		"GET / HTTP/1.2\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+nextGet,
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n"+nextGet,
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"+nextGet,
		"GET / HTTP/1.1 \r\nHost: a\r\n\r\n"+nextGet,
		"GET /"+strings.Repeat("a", 300)+" HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"+nextGet,
		"GET /"+strings.Repeat("a", 300)+" HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+nextGet,
		"GET / HTTP/1.1\r\nHost: a\r\nX-"+strings.Repeat("a", 300)+": b\r\n\r\n"+nextGet,
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: "+strings.Repeat(" ", 300)+"0\r\n\r\n"+nextGet,
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"+nextGet,
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"+nextGet,
		"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"+nextGet,
		"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"+nextGet,
		strings.Repeat("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 300),
	)
}
