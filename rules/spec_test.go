package rules

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The table names only fields that Action has, every field it names has a
// validation bit, and every action type has exactly one entry.
func TestActionSpecsMatchAction(t *testing.T) {
	jsonNames := map[string]bool{}
	at := reflect.TypeFor[Action]()
	for i := range at.NumField() {
		name, _, _ := strings.Cut(at.Field(i).Tag.Get("json"), ",")
		jsonNames[name] = true
	}
	seen := map[string]bool{}
	for _, s := range ActionSpecs() {
		if seen[s.Type] {
			t.Errorf("type %q listed twice", s.Type)
		}
		seen[s.Type] = true
		if s.Label == "" || s.Help == "" {
			t.Errorf("type %q: label and help are shown in the editor and must be set", s.Type)
		}
		for _, f := range s.Fields {
			if !jsonNames[f.Name] || f.Name == "type" {
				t.Errorf("type %q: field %q is not a field of Action", s.Type, f.Name)
			}
			if bitOf(f.Name) == 0 {
				t.Errorf("type %q: field %q has no validation bit", s.Type, f.Name)
			}
			if (f.Kind == KindEnum) != (len(f.Options) > 0) {
				t.Errorf("type %q: field %q: options go with enum fields", s.Type, f.Name)
			}
		}
	}
	for _, typ := range []string{TypeOverride, TypeMock, TypeMapRemote, TypeSetRequestHeaders, TypeRemoveRequestHeaders,
		TypeSetResponseHeaders, TypeRemoveResponseHeaders, TypeDelay, TypeThrottle, TypeBlock, TypeBreakpoint,
		TypeReplaceBody, TypeReplaceHeaders, TypeJSONPatch, TypeSetQuery, TypeRemoveQuery, TypeSetStatus} {
		if !seen[typ] {
			t.Errorf("type %q has no spec", typ)
		}
	}
}

// A field the table does not list for a type is reported by validation.
func TestValidationFollowsTheTable(t *testing.T) {
	body := "x"
	for _, tc := range []struct {
		a     Action
		field string // the field reported, "" for none
	}{
		{Action{Type: TypeBlock, Body: &body, Headers: map[string]string{"X-A": "1"}}, ""},
		{Action{Type: TypeDelay, Ms: 10, Body: &body}, "body"},
		{Action{Type: TypeThrottle, BytesPerSecond: 10, Phase: "request"}, "phase"},
		{Action{Type: TypeMapRemote, URL: "http://127.0.0.1:1/", Status: 200}, "status"},
	} {
		ps := Validate([]Rule{{ID: "r", Enabled: true, Actions: []Action{tc.a}}})
		var fields []string
		for _, p := range ps {
			fields = append(fields, p.Field)
		}
		want := []string(nil)
		if tc.field != "" {
			want = []string{"actions[0]." + tc.field}
		}
		if !slices.Equal(fields, want) {
			t.Errorf("%+v: problems at %v, want %v (%v)", tc.a, fields, want, ps)
		}
	}
}
