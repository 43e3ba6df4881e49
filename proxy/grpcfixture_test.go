package proxy_test

// The dashboard's gRPC viewer is tested on bytes made here, by the real
// protobuf library: ui/src/lib/testdata/grpc.json (Vitest: bodies and what
// protowire reads in them) and ui/e2e/testdata/grpc.har (the browser test:
// calls captured through Loupe, exported as HAR). Rewrite them with
//
//	go test ./proxy -run TestGRPCFixtures -grpc-fixtures

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/har"
	"loupe/proxy/proxytest"
)

var grpcFixtures = flag.Bool("grpc-fixtures", false, "rewrite the gRPC fixtures of the dashboard's tests")

var (
	grpcLibFixture = filepath.Join("..", "ui", "src", "lib", "testdata", "grpc.json")
	grpcHARFixture = filepath.Join("..", "ui", "e2e", "testdata", "grpc.har")
)

// fixtureCase is one body for the viewer, with what protowire reads in
// each of its messages (top-level fields).
type fixtureCase struct {
	Name         string           `json:"name"`
	ContentType  string           `json:"contentType"`
	GRPCEncoding string           `json:"grpcEncoding,omitempty"`
	Body         string           `json:"body"` // base64
	Messages     [][]fixtureField `json:"messages"`
	// Trailers of a gRPC-Web body (its last frame), as sent.
	Trailers map[string]string `json:"trailers,omitempty"`
}

// fixtureField is a field as protowire reads it: unsigned values in
// decimal (64-bit values do not fit a JSON number), bytes in hex.
type fixtureField struct {
	No   int    `json:"no"`
	Wire int    `json:"wire"`
	Uint string `json:"uint,omitempty"`
	Hex  string `json:"hex,omitempty"`
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frame is one length-prefixed gRPC message.
func frame(flag byte, msg []byte) []byte {
	out := []byte{flag}
	out = binary.BigEndian.AppendUint32(out, uint32(len(msg)))
	return append(out, msg...)
}

func gzipped(t *testing.T, p []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wireFields lists the top-level fields of a message with protowire.
func wireFields(t *testing.T, b []byte) []fixtureField {
	t.Helper()
	out := []fixtureField{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f := fixtureField{No: int(num), Wire: int(typ)}
		switch typ {
		case protowire.VarintType:
			v, n2 := protowire.ConsumeVarint(b)
			f.Uint, n = strconv.FormatUint(v, 10), n2
		case protowire.Fixed32Type:
			v, n2 := protowire.ConsumeFixed32(b)
			f.Uint, n = strconv.FormatUint(uint64(v), 10), n2
		case protowire.Fixed64Type:
			v, n2 := protowire.ConsumeFixed64(b)
			f.Uint, n = strconv.FormatUint(v, 10), n2
		case protowire.BytesType:
			v, n2 := protowire.ConsumeBytes(b)
			f.Hex, n = hex.EncodeToString(v), n2
		default:
			t.Fatalf("unexpected wire type %d", typ)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		out = append(out, f)
	}
	return out
}

func libFixture(t *testing.T) []byte {
	str := mustMarshal(t, wrapperspb.String("ada"))
	st, err := structpb.NewStruct(map[string]any{
		"name": "Ada Lovelace", "id": 42, "ok": true, "tags": []any{"a", "b"},
		"nested": map[string]any{"pi": 3.14},
	})
	if err != nil {
		t.Fatal(err)
	}
	structMsg := mustMarshal(t, st)
	neg := mustMarshal(t, wrapperspb.Int64(-5))
	small := mustMarshal(t, wrapperspb.UInt32(150))
	float := mustMarshal(t, wrapperspb.Float(1.5))
	double := mustMarshal(t, wrapperspb.Double(2.25))
	raw := mustMarshal(t, wrapperspb.Bytes([]byte{0, 1, 2, 0xff}))
	empty := mustMarshal(t, wrapperspb.String(""))
	webTrailers := []byte("grpc-status: 5\r\ngrpc-message: user%2042%20not%20found\r\n")

	webBody := append(frame(0, str), frame(0x80, webTrailers)...)
	// gRPC-Web-text may base64 each frame on its own; the viewer joins them.
	webText := base64.StdEncoding.EncodeToString(frame(0, str)) + base64.StdEncoding.EncodeToString(frame(0x80, webTrailers))

	cases := []fixtureCase{
		{Name: "unary string", ContentType: "application/grpc", Body: b64(frame(0, str)), Messages: [][]fixtureField{wireFields(t, str)}},
		{Name: "struct with nested messages", ContentType: "application/grpc+proto", Body: b64(frame(0, structMsg)),
			Messages: [][]fixtureField{wireFields(t, structMsg)}},
		{Name: "gzip and identity frames", ContentType: "application/grpc", GRPCEncoding: "gzip",
			Body:     b64(append(frame(1, gzipped(t, neg)), frame(0, small)...)),
			Messages: [][]fixtureField{wireFields(t, neg), wireFields(t, small)}},
		{Name: "float double bytes empty", ContentType: "application/grpc",
			Body:     b64(bytes.Join([][]byte{frame(0, float), frame(0, double), frame(0, raw), frame(0, empty)}, nil)),
			Messages: [][]fixtureField{wireFields(t, float), wireFields(t, double), wireFields(t, raw), wireFields(t, empty)}},
		{Name: "grpc-web with trailers", ContentType: "application/grpc-web+proto", Body: b64(webBody),
			Messages: [][]fixtureField{wireFields(t, str)},
			Trailers: map[string]string{"grpc-status": "5", "grpc-message": "user%2042%20not%20found"}},
		{Name: "grpc-web-text", ContentType: "application/grpc-web-text", Body: b64([]byte(webText)),
			Messages: [][]fixtureField{wireFields(t, str)},
			Trailers: map[string]string{"grpc-status": "5", "grpc-message": "user%2042%20not%20found"}},
	}
	doc := map[string]any{
		"comment": "Generated by go test ./proxy -run TestGRPCFixtures -grpc-fixtures from real protobuf bytes; do not edit.",
		"cases":   cases,
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }

// TestGRPCFixtures keeps the viewer's fixture current (it is made from
// deterministic protobuf bytes) and the browser test's HAR importable.
func TestGRPCFixtures(t *testing.T) {
	lib := libFixture(t)
	if *grpcFixtures {
		writeFixture(t, grpcLibFixture, lib)
		writeFixture(t, grpcHARFixture, captureHAR(t))
	}
	if got, err := os.ReadFile(grpcLibFixture); err != nil || !bytes.Equal(got, lib) {
		t.Errorf("%s is stale or missing (%v): run go test ./proxy -run TestGRPCFixtures -grpc-fixtures", grpcLibFixture, err)
	}

	data, err := os.ReadFile(grpcHARFixture)
	if err != nil {
		t.Fatalf("%v: run go test ./proxy -run TestGRPCFixtures -grpc-fixtures", err)
	}
	rs, err := har.Import(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var notFound, trailers bool
	for _, r := range rs {
		code, _, ok := r.Flow.GRPCStatus()
		notFound = notFound || ok && code == 5
		trailers = trailers || r.Flow.Response != nil && r.Flow.Response.Trailers.Get("Grpc-Status") == "0"
	}
	if len(rs) < 3 || !notFound || !trailers {
		t.Errorf("%s: %d flows, a NOT_FOUND call %v, trailers %v", grpcHARFixture, len(rs), notFound, trailers)
	}
}

func writeFixture(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// captureHAR makes real gRPC calls through Loupe (one compressed with gzip,
// one failing, one streaming) and exports what was recorded.
func captureHAR(t *testing.T) []byte {
	_, addr := startEcho(t)
	env := proxytest.Start(t, proxy.Config{})
	conn := dialEcho(t, env, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-client-md", "c1")
	method := "/" + echoService + "/Unary"
	if err := conn.Invoke(ctx, method, wrapperspb.String("ada"), new(wrapperspb.StringValue), grpc.UseCompressor("gzip")); err != nil {
		t.Fatal(err)
	}
	if err := conn.Invoke(ctx, method, wrapperspb.String("missing"), new(wrapperspb.StringValue)); err == nil {
		t.Fatal("missing: no error")
	}
	s, err := conn.NewStream(ctx, &echoDesc.Streams[0], "/"+echoService+"/Server")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendMsg(wrapperspb.String("tick")); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseSend()
	for s.RecvMsg(new(wrapperspb.StringValue)) == nil {
	}
	rs := env.Rec.WaitFinished(t, 3, 10*time.Second)
	byID := map[flow.ID]flow.Recorded{}
	for _, r := range rs {
		byID[r.Flow.ID] = r
	}
	flows := func(yield func(*flow.Flow) bool) {
		for _, r := range rs {
			f := r.Flow
			if !yield(&f) {
				return
			}
		}
	}
	body := func(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error) {
		r := byID[id]
		facts := r.Flow.ResponseBody
		switch facet {
		case flow.FacetRequest:
			facts = r.Flow.RequestBody
		case flow.FacetUpstream:
			if r.Flow.UpstreamBody != nil {
				facts = *r.Flow.UpstreamBody
			}
		}
		return io.NopCloser(bytes.NewReader(r.Bodies[facet])), facts, nil
	}
	var buf bytes.Buffer
	if err := har.Export(&buf, flows, body, har.Options{CreatorVersion: "fixture"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
