package store

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"loupe/proxy/flow"
)

// storeBody records one response with the given wire bytes and encoding.
func storeBody(s *Store, encoding string, wire []byte) flow.ID {
	h := s.Begin("c", req("/"), t0)
	h.Response(flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Encoding", Value: encoding}}})
	h.Body(flow.FacetResponse, wire)
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0, nil)
	return h.ID()
}

func decoded(s *Store, id flow.ID) ([]byte, error) {
	rc, _, err := s.DecodedBody(id, flow.FacetResponse)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// DecodedBody undoes the flow's Content-Encoding, for bodies in memory and
// spilled to disk alike, and leaves the wire bytes as they were. The codings
// themselves are tested in package codec.
func TestDecodedBody(t *testing.T) {
	s := newStore(t, Config{SpillThreshold: 256})
	for _, size := range []int{100, 5000} { // in RAM, spilled
		plain := []byte(strings.Repeat("L", size))
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		_, _ = w.Write(plain)
		_ = w.Close()
		id := storeBody(s, "gzip", gz.Bytes())
		got, err := decoded(s, id)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("size %d: decoded %d bytes, err %v", size, len(got), err)
		}
		if raw := readBody(t, s, id, flow.FacetResponse); !bytes.Equal(raw, gz.Bytes()) {
			t.Errorf("size %d: wire bytes changed", size)
		}
	}
	_, err := decoded(s, storeBody(s, "compress", []byte("not compressed")))
	if !errors.Is(err, ErrUnsupportedEncoding) {
		t.Errorf("unknown encoding: err = %v", err)
	}
}
