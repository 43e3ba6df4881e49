package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// The dashboard's unit tests run the editor against a copy of the action
// table; it must be the table as it is. LOUPE_UPDATE_SNAPSHOT=1 rewrites it.
func TestEditorSnapshotOfActionSpecs(t *testing.T) {
	const path = "../ui/src/lib/testdata/actions.json"
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ActionSpecs()); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("LOUPE_UPDATE_SNAPSHOT") == "1" {
		if err := os.WriteFile(path, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("%s differs from rules.ActionSpecs(): run LOUPE_UPDATE_SNAPSHOT=1 go test ./rules -run EditorSnapshot", path)
	}
}
