package disk

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"loupe/proxy/flow"
)

// The head of a flow is stored as the JSON of flow.Flow (without its
// WebSocket messages, which have their own table), beside the columns that
// list rows and indexes need. JSON keeps every field the model has or will
// gain without a migration, and is the format the API and exports speak
// already; the columns are derived from it on every write.
//
// A header list that is the same as the one it derives from (the request
// as sent equal to the request as received, the response as served equal
// to the response as received: most flows) is stored once; shared says
// which were left out.
const (
	sharedUpReq = 1 << iota // UpstreamRequest.Header is Request.Header
	sharedResp              // Response.Header is UpstreamResponse.Header
)

// encodeHead returns the stored form of f's head.
func encodeHead(f *flow.Flow) ([]byte, int, error) {
	c := *f
	c.WebSocket = nil
	shared := 0
	if r := c.UpstreamRequest; r != nil && len(r.Header) > 0 && slices.Equal(r.Header, c.Request.Header) {
		cp := *r
		cp.Header = nil
		c.UpstreamRequest = &cp
		shared |= sharedUpReq
	}
	if r, up := c.Response, c.UpstreamResponse; r != nil && up != nil && len(r.Header) > 0 && slices.Equal(r.Header, up.Header) {
		cp := *r
		cp.Header = nil
		c.Response = &cp
		shared |= sharedResp
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, 0, fmt.Errorf("encode head: %w", err)
	}
	return b, shared, nil
}

// decodeHead rebuilds a flow from its stored head. Times come from the
// integer columns, so that Get and Summary agree to the nanosecond.
func decodeHead(head []byte, shared int, startNs, endNs int64) (*flow.Flow, error) {
	f := &flow.Flow{}
	if err := json.Unmarshal(head, f); err != nil {
		return nil, fmt.Errorf("decode head: %w", err)
	}
	if shared&sharedUpReq != 0 && f.UpstreamRequest != nil {
		f.UpstreamRequest.Header = slices.Clone(f.Request.Header)
	}
	if shared&sharedResp != 0 && f.Response != nil && f.UpstreamResponse != nil {
		f.Response.Header = slices.Clone(f.UpstreamResponse.Header)
	}
	f.Start = time.Unix(0, startNs)
	f.End = time.Time{}
	if endNs != 0 {
		f.End = time.Unix(0, endNs)
	}
	return f, nil
}

// portNumber is the port column's value: 0 for none.
func portNumber(p string) int64 {
	n, err := strconv.ParseInt(p, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
