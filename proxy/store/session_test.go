package store_test

import (
	"testing"

	"loupe/proxy/store"
	"loupe/proxy/store/query"
	"loupe/proxy/store/storetest"
	"loupe/web/filter"
)

func TestBackendContract(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Parse: func(q string) (*query.Query, error) { return filter.Parse(q) },
		Open: func(t *testing.T, maxFlows int) store.Backend {
			s, err := store.New(store.Config{Dir: t.TempDir(), MaxFlows: maxFlows}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	})
}
