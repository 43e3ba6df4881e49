package proxy_test

// gRPC through Loupe with a real grpc-go client and server: the client
// tunnels through the proxy with CONNECT (its own dialer, no environment),
// trusts the test CA, and Loupe intercepts the HTTP/2 inside. The service is
// described by hand (grpc.ServiceDesc) and its messages are protobuf
// well-known types, so no generated code is needed.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

const echoService = "loupe.test.Echo"

// grpcEcho records what it saw of each call.
type grpcEcho struct {
	mu    sync.Mutex
	calls []echoCall
}

type echoCall struct {
	method    string
	authority string
	md        metadata.MD
	messages  []string
}

func (s *grpcEcho) saw(ctx context.Context, method string, msgs ...string) {
	md, _ := metadata.FromIncomingContext(ctx)
	c := echoCall{method: method, md: md.Copy(), messages: msgs}
	if a := md.Get(":authority"); len(a) > 0 {
		c.authority = a[0]
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func (s *grpcEcho) last(t *testing.T, method string) echoCall {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.calls) - 1; i >= 0; i-- {
		if s.calls[i].method == method {
			return s.calls[i]
		}
	}
	t.Fatalf("the server saw no %s call", method)
	return echoCall{}
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: echoService,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: echoUnary}},
	Streams: []grpc.StreamDesc{
		{StreamName: "Server", Handler: echoServerStream, ServerStreams: true},
		{StreamName: "Client", Handler: echoClientStream, ClientStreams: true},
		{StreamName: "Bidi", Handler: echoBidi, ServerStreams: true, ClientStreams: true},
	},
}

// echoUnary greets its argument; "missing" fails with NOT_FOUND before any
// header is sent (a trailers-only answer).
func echoUnary(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	srv.(*grpcEcho).saw(ctx, "Unary", in.Value)
	if in.Value == "missing" {
		return nil, status.Error(codes.NotFound, "user 42 not found: ünïcode")
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-server-header", "h1"))
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-server-trailer", "t1"))
	return wrapperspb.String("hello " + in.Value), nil
}

func echoServerStream(srv any, stream grpc.ServerStream) error {
	in := new(wrapperspb.StringValue)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	srv.(*grpcEcho).saw(stream.Context(), "Server", in.Value)
	stream.SetTrailer(metadata.Pairs("x-count", "3"))
	for i := range 3 {
		if err := stream.SendMsg(wrapperspb.String(fmt.Sprintf("%s %d", in.Value, i))); err != nil {
			return err
		}
	}
	return nil
}

func echoClientStream(srv any, stream grpc.ServerStream) error {
	var got []string
	for {
		in := new(wrapperspb.StringValue)
		err := stream.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		got = append(got, in.Value)
	}
	srv.(*grpcEcho).saw(stream.Context(), "Client", got...)
	return stream.SendMsg(wrapperspb.String(strings.Join(got, ",")))
}

func echoBidi(srv any, stream grpc.ServerStream) error {
	var got []string
	defer func() { srv.(*grpcEcho).saw(stream.Context(), "Bidi", got...) }()
	for {
		in := new(wrapperspb.StringValue)
		err := stream.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		got = append(got, in.Value)
		if err := stream.SendMsg(wrapperspb.String("echo: " + in.Value)); err != nil {
			return err
		}
	}
}

// grpcOriginCert is the certificate of httptest's TLS servers (127.0.0.1 and
// example.com), which proxytest.Start makes the proxy trust.
func grpcOriginCert(t *testing.T) tls.Certificate {
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.StartTLS()
	defer s.Close()
	return s.TLS.Certificates[0]
}

// startEcho runs the echo service over TLS on 127.0.0.1:0.
func startEcho(t *testing.T) (*grpcEcho, string) {
	t.Helper()
	return startEchoWith(t, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{grpcOriginCert(t)}})))
}

// startEchoWith runs the echo service on 127.0.0.1:0 with opts (no
// credentials: plaintext HTTP/2).
func startEchoWith(t *testing.T, opts ...grpc.ServerOption) (*grpcEcho, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	es := &grpcEcho{}
	srv.RegisterService(&echoDesc, es)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return es, l.Addr().String()
}

// grpcConnectDialer opens a CONNECT tunnel through the proxy for every
// connection the gRPC client makes.
func grpcConnectDialer(proxyAddr string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", proxyAddr)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", addr, addr)
		// The proxy says nothing more until the client's TLS hello: no byte
		// of the tunnel is left in the reader.
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256), nil)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("CONNECT %s: %s", addr, resp.Status)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		_ = c.SetDeadline(time.Time{})
		return c, nil
	}
}

// dialEcho is a gRPC client for the echo service at addr, through the
// proxy, trusting its CA. Options may replace the credentials.
func dialEcho(t *testing.T, env *proxytest.Env, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: env.CA.Pool()})),
		grpc.WithContextDialer(grpcConnectDialer(env.Addr)),
		grpc.WithNoProxy(),
	}, opts...)
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// grpcFrames is the gRPC wire form of msgs: each length-prefixed, uncompressed.
func grpcFrames(t *testing.T, msgs ...string) []byte {
	t.Helper()
	var out []byte
	for _, m := range msgs {
		b, err := proto.Marshal(wrapperspb.String(m))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, 0)
		out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return out
}

// grpcFlowFor waits for the flow of the call to method and returns it.
func grpcFlowFor(t *testing.T, rec *proxytest.Recorder, method string) flow.Recorded {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found *flow.Recorded
		for _, r := range rec.Flows() {
			if strings.HasSuffix(r.Flow.Request.URL, "/"+echoService+"/"+method) {
				found = &r
			}
		}
		if found != nil && found.Flow.State != flow.StatePending {
			return *found
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished flow for %s", method)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGRPC(t *testing.T) {
	es, addr := startEcho(t)
	env := proxytest.Start(t, proxy.Config{})
	conn := dialEcho(t, env, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("unary with metadata", func(t *testing.T) {
		var header, trailer metadata.MD
		out := new(wrapperspb.StringValue)
		cctx := metadata.AppendToOutgoingContext(ctx, "x-client-md", "c1")
		err := conn.Invoke(cctx, "/"+echoService+"/Unary", wrapperspb.String("ada"), out, grpc.Header(&header), grpc.Trailer(&trailer))
		if err != nil || out.Value != "hello ada" {
			t.Fatalf("Unary = %q, %v", out.Value, err)
		}
		if !reflect.DeepEqual(header.Get("x-server-header"), []string{"h1"}) || !reflect.DeepEqual(trailer.Get("x-server-trailer"), []string{"t1"}) {
			t.Errorf("client got header %v trailer %v", header, trailer)
		}
		call := es.last(t, "Unary")
		if got := call.md.Get("x-client-md"); !reflect.DeepEqual(got, []string{"c1"}) || call.authority != addr {
			t.Errorf("server saw metadata %v authority %q", call.md, call.authority)
		}

		r := grpcFlowFor(t, env.Rec, "Unary")
		f := r.Flow
		if f.State != flow.StateDone || f.Response == nil || f.Response.Status != 200 || f.Request.Proto != "HTTP/2.0" {
			t.Fatalf("flow %+v", f)
		}
		if f.Request.Header.Get("X-Client-Md") != "c1" || f.Request.Header.Get("Te") != "trailers" {
			t.Errorf("request headers %v", f.Request.Header)
		}
		if f.Response.Header.Get("X-Server-Header") != "h1" {
			t.Errorf("response headers %v", f.Response.Header)
		}
		for name, tr := range map[string]flow.Fields{"served": f.Response.Trailers, "upstream": f.UpstreamResponse.Trailers} {
			if tr.Get("Grpc-Status") != "0" || tr.Get("X-Server-Trailer") != "t1" {
				t.Errorf("%s trailers %v", name, tr)
			}
		}
		if sum := f.Summary(); sum.GRPCStatus == nil || *sum.GRPCStatus != 0 {
			t.Errorf("summary gRPC status %v", sum.GRPCStatus)
		}
		if got, want := r.Bodies[flow.FacetRequest], grpcFrames(t, "ada"); !bytes.Equal(got, want) {
			t.Errorf("request body % x, want % x", got, want)
		}
		if got, want := r.Bodies[flow.FacetResponse], grpcFrames(t, "hello ada"); !bytes.Equal(got, want) {
			t.Errorf("response body % x, want % x", got, want)
		}
	})

	t.Run("error status", func(t *testing.T) {
		err := conn.Invoke(ctx, "/"+echoService+"/Unary", wrapperspb.String("missing"), new(wrapperspb.StringValue))
		if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "user 42 not found: ünïcode" {
			t.Fatalf("Unary(missing) = %v", err)
		}
		f := grpcFlowFor(t, env.Rec, "Unary").Flow
		code, msg, ok := f.GRPCStatus()
		if !ok || code != int(codes.NotFound) || msg != "user 42 not found: ünïcode" {
			t.Errorf("recorded gRPC status %d %q %v; response %+v", code, msg, ok, f.Response)
		}
		if sum := f.Summary(); sum.GRPCStatus == nil || *sum.GRPCStatus != 5 || sum.GRPCMessage != msg {
			t.Errorf("summary %v %q", sum.GRPCStatus, sum.GRPCMessage)
		}
		if f.Response.Status != 200 {
			t.Errorf("HTTP status %d", f.Response.Status)
		}
	})

	t.Run("server streaming", func(t *testing.T) {
		s, err := conn.NewStream(ctx, &echoDesc.Streams[0], "/"+echoService+"/Server")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SendMsg(wrapperspb.String("tick")); err != nil {
			t.Fatal(err)
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			m := new(wrapperspb.StringValue)
			if err := s.RecvMsg(m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.Value)
		}
		if want := []string{"tick 0", "tick 1", "tick 2"}; !reflect.DeepEqual(got, want) || s.Trailer().Get("x-count")[0] != "3" {
			t.Errorf("got %v trailer %v", got, s.Trailer())
		}
		r := grpcFlowFor(t, env.Rec, "Server")
		if got, want := r.Bodies[flow.FacetResponse], grpcFrames(t, "tick 0", "tick 1", "tick 2"); !bytes.Equal(got, want) {
			t.Errorf("response body % x, want % x", got, want)
		}
		if tr := r.Flow.Response.Trailers; tr.Get("X-Count") != "3" || tr.Get("Grpc-Status") != "0" {
			t.Errorf("trailers %v", tr)
		}
	})

	t.Run("client streaming", func(t *testing.T) {
		s, err := conn.NewStream(ctx, &echoDesc.Streams[1], "/"+echoService+"/Client")
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"a", "b", "c"} {
			if err := s.SendMsg(wrapperspb.String(v)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		m := new(wrapperspb.StringValue)
		if err := s.RecvMsg(m); err != nil || m.Value != "a,b,c" {
			t.Fatalf("reply %q, %v", m.Value, err)
		}
		if got := es.last(t, "Client").messages; !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
			t.Errorf("server saw %v", got)
		}
		r := grpcFlowFor(t, env.Rec, "Client")
		if got, want := r.Bodies[flow.FacetRequest], grpcFrames(t, "a", "b", "c"); !bytes.Equal(got, want) {
			t.Errorf("request body % x, want % x", got, want)
		}
		if code, _, ok := r.Flow.GRPCStatus(); !ok || code != 0 {
			t.Errorf("gRPC status %d %v", code, ok)
		}
	})

	t.Run("bidi streaming", func(t *testing.T) {
		s, err := conn.NewStream(ctx, &echoDesc.Streams[2], "/"+echoService+"/Bidi")
		if err != nil {
			t.Fatal(err)
		}
		// Each answer arrives before the next message is sent: the
		// exchange streams both ways through the proxy.
		for _, v := range []string{"x", "y"} {
			if err := s.SendMsg(wrapperspb.String(v)); err != nil {
				t.Fatal(err)
			}
			m := new(wrapperspb.StringValue)
			if err := s.RecvMsg(m); err != nil || m.Value != "echo: "+v {
				t.Fatalf("echo %q, %v", m.Value, err)
			}
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := s.RecvMsg(new(wrapperspb.StringValue)); !errors.Is(err, io.EOF) {
			t.Fatalf("end of stream: %v", err)
		}
		r := grpcFlowFor(t, env.Rec, "Bidi")
		if got, want := r.Bodies[flow.FacetRequest], grpcFrames(t, "x", "y"); !bytes.Equal(got, want) {
			t.Errorf("request body % x, want % x", got, want)
		}
		if got, want := r.Bodies[flow.FacetResponse], grpcFrames(t, "echo: x", "echo: y"); !bytes.Equal(got, want) {
			t.Errorf("response body % x, want % x", got, want)
		}
		if tr := r.Flow.Response.Trailers; tr.Get("Grpc-Status") != "0" {
			t.Errorf("trailers %v", tr)
		}
	})
}

// A client that overrides :authority (behind a load balancer, say) reaches
// the address it dialled, with the authority it chose; the flow says both.
func TestGRPCAuthority(t *testing.T) {
	es, addr := startEcho(t)
	env := proxytest.Start(t, proxy.Config{})
	conn := dialEcho(t, env, addr, grpc.WithAuthority("example.com"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := new(wrapperspb.StringValue)
	if err := conn.Invoke(ctx, "/"+echoService+"/Unary", wrapperspb.String("lb"), out); err != nil || out.Value != "hello lb" {
		t.Fatalf("Unary = %q, %v", out.Value, err)
	}
	if got := es.last(t, "Unary").authority; got != "example.com" {
		t.Errorf("server saw :authority %q", got)
	}
	f := grpcFlowFor(t, env.Rec, "Unary").Flow
	if f.Request.URL != "https://example.com/"+echoService+"/Unary" || f.Tunnel == nil || f.Tunnel.Target != addr {
		t.Errorf("flow URL %s tunnel %+v", f.Request.URL, f.Tunnel)
	}
	if code, _, ok := f.GRPCStatus(); !ok || code != 0 {
		t.Errorf("gRPC status %d %v", code, ok)
	}
}

// A plaintext gRPC service (HTTP/2 with prior knowledge, no TLS) works
// through a CONNECT tunnel: Loupe speaks HTTP/2 on both sides and records
// the calls like any other.
func TestGRPCH2C(t *testing.T) {
	es, addr := startEchoWith(t)
	env := proxytest.Start(t, proxy.Config{})
	conn := dialEcho(t, env, addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var trailer metadata.MD
	out := new(wrapperspb.StringValue)
	if err := conn.Invoke(ctx, "/"+echoService+"/Unary", wrapperspb.String("plain"), out, grpc.Trailer(&trailer)); err != nil || out.Value != "hello plain" {
		t.Fatalf("Unary = %q, %v", out.Value, err)
	}
	if got := trailer.Get("x-server-trailer"); len(got) != 1 || got[0] != "t1" {
		t.Errorf("client got trailer %v", trailer)
	}
	if got := es.last(t, "Unary").authority; got != addr {
		t.Errorf("server saw :authority %q", got)
	}
	r := grpcFlowFor(t, env.Rec, "Unary")
	f := r.Flow
	if f.Request.URL != "http://"+addr+"/"+echoService+"/Unary" || f.Request.Proto != "HTTP/2.0" || f.UpstreamResponse == nil || f.UpstreamResponse.Proto != "HTTP/2.0" {
		t.Errorf("flow %s %s, upstream %+v", f.Request.URL, f.Request.Proto, f.UpstreamResponse)
	}
	if tr := f.Response.Trailers; tr.Get("Grpc-Status") != "0" || tr.Get("X-Server-Trailer") != "t1" {
		t.Errorf("trailers %v", tr)
	}
	if got, want := r.Bodies[flow.FacetResponse], grpcFrames(t, "hello plain"); !bytes.Equal(got, want) {
		t.Errorf("response body % x, want % x", got, want)
	}

	err := conn.Invoke(ctx, "/"+echoService+"/Unary", wrapperspb.String("missing"), new(wrapperspb.StringValue))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Unary(missing) = %v", err)
	}
	failed := grpcFlowFor(t, env.Rec, "Unary").Flow
	if code, _, ok := failed.GRPCStatus(); !ok || code != 5 {
		t.Errorf("recorded status %d %v: %+v", code, ok, failed.Response)
	}

	// A replay speaks h2c to the origin again.
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if _, err := env.Proxy.Replay(rctx, &f, r.Bodies[flow.FacetRequest]); err != nil {
		t.Fatal(err)
	}
	rs := env.Rec.WaitFinished(t, 3, 10*time.Second)
	if rf := rs[2].Flow; rf.ReplayOf != f.ID || rf.Error != "" || rf.UpstreamResponse == nil || rf.UpstreamResponse.Proto != "HTTP/2.0" {
		t.Errorf("replay %+v", rf)
	} else if code, _, ok := rf.GRPCStatus(); !ok || code != 0 {
		t.Errorf("replay gRPC status %d %v", code, ok)
	}
}

// Looking for the HTTP/2 preface never waits on an HTTP/1 request inside a
// plain tunnel, even one shorter than the preface that starts like it ("P").
func TestH2CDetectionDoesNotWait(t *testing.T) {
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method)
	}))
	env := proxytest.Start(t, proxy.Config{ReadHeaderTimeout: time.Hour})
	target := strings.TrimPrefix(origin.URL, "http://")
	c, err := net.Dial("tcp", env.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	io.WriteString(c, "PUT / HTTP/1.0\r\n\r\n") // 18 bytes: less than the preface
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "PUT" {
		t.Errorf("got %d %q", resp.StatusCode, b)
	}
}
