package store

import (
	"fmt"
	"io"

	"loupe/proxy/codec"
	"loupe/proxy/flow"
)

// ErrUnsupportedEncoding is returned by DecodedBody for a Content-Encoding
// Loupe cannot decode; the wire bytes are still available through Body.
var ErrUnsupportedEncoding = codec.ErrUnsupportedEncoding

// DecodedBody is Body with the Content-Encoding undone (gzip, deflate, br,
// zstd, and lists of them). A corrupt body gives an error from DecodedBody
// or from Read, never a panic. The returned facts describe the wire body.
func (s *Store) DecodedBody(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error) {
	rc, facts, err := s.Body(id, facet)
	if err != nil {
		return nil, facts, err
	}
	d, err := codec.Decode(rc, facts.Encoding)
	if err != nil {
		rc.Close()
		return nil, facts, fmt.Errorf("flow %d %s body: %w", id, facet, err)
	}
	return d, facts, nil
}
