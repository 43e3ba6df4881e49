package store_test

import (
	"testing"

	"loupe/proxy/store"
	"loupe/proxy/store/storetest"
)

func TestBackendContract(t *testing.T) {
	storetest.Run(t, storetest.Harness{
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
