package proxytest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"loupe/proxy/flow"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRecorderConcurrentAndCapped(t *testing.T) {
	r := &Recorder{BodyCap: 10}
	h := r.Begin("1.2.3.4:5", flow.Request{Method: "GET", URL: "http://a/"}, time.Now())
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				h.Body(flow.FacetResponse, []byte("abc"))
				h.Body(flow.FacetUpstream, []byte("x"))
			}
		}()
	}
	wg.Wait()
	h.BodyEnd(flow.FacetResponse)
	h.Rule("r1", "override")
	h.Finish(time.Now(), errors.New("boom"))
	h.Body(flow.FacetResponse, []byte("after finish"))

	f := r.Last(t)
	if f.Flow.ResponseBody.Size != 2400 || f.Flow.ResponseBody.Captured != 10 || !f.Flow.ResponseBody.Truncated || !f.Flow.ResponseBody.Complete {
		t.Errorf("response body %+v", f.Flow.ResponseBody)
	}
	if f.Flow.UpstreamBody == nil || f.Flow.UpstreamBody.Size != 800 || len(f.Bodies[flow.FacetUpstream]) != 10 {
		t.Errorf("upstream body %+v", f.Flow.UpstreamBody)
	}
	if f.Flow.State != flow.StateError || f.Flow.Error != "boom" || f.Flow.Overridden != "override" {
		t.Errorf("flow %+v", f.Flow)
	}
}
