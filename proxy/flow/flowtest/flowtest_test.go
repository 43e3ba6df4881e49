package flowtest

import (
	"reflect"
	"testing"
)

// zeros lists the paths of the leaves under v that are still zero.
func zeros(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeros(v.Elem(), path)
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		var out []string
		for i := range v.Len() {
			out = append(out, zeros(v.Index(i), path+"[]")...)
		}
		return out
	case reflect.Struct:
		if v.Type().NumField() == 0 || v.Type().PkgPath() == "time" {
			break
		}
		var out []string
		for i := range v.NumField() {
			out = append(out, zeros(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

// A zero field left by Full would let a codec drop it unnoticed.
func TestFullLeavesNoZeroField(t *testing.T) {
	f := Full()
	if z := zeros(reflect.ValueOf(f), "Flow"); len(z) > 0 {
		t.Errorf("zero after Full: %v", z)
	}
	if g, h := Full(), Full(); !reflect.DeepEqual(g, h) {
		t.Error("two calls of Full differ")
	}
}
