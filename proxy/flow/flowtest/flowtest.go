// Package flowtest builds flows for the tests of the codecs that carry a
// flow.Flow whole (the durable store's head, the session file), so that a
// field added to the model without a place in a codec fails its test.
//
// It is test support: only _test files import it, and it must never be
// linked into Loupe itself. It imports only flow and the standard library.
package flowtest

import (
	"fmt"
	"reflect"
	"time"

	"loupe/proxy/flow"
)

// Full returns a flow with every field reachable from it set to a distinct
// non-zero value: pointers get a value, slices two elements, maps one
// entry. Times are in time.Local, as time.Unix returns them, so a codec
// that decodes with time.Unix compares equal under reflect.DeepEqual.
// A field of a kind it does not know makes it panic, naming the kind.
func Full() flow.Flow {
	var f flow.Flow
	n := 0
	fill(reflect.ValueOf(&f).Elem(), &n)
	return f
}

// fill sets v, and everything reachable from it, counting values in n so
// that each one differs from the last.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n * 1000003))
	case reflect.Uint64:
		v.SetUint(uint64(*n) << 33)
	case reflect.Uint8:
		v.SetUint(uint64(*n))
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.25)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k := reflect.New(v.Type().Key()).Elem()
		e := reflect.New(v.Type().Elem()).Elem()
		fill(k, n)
		fill(e, n)
		v.SetMapIndex(k, e)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(int64(*n)*1000, int64(*n))))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	default:
		panic("flowtest: add a case for " + v.Kind().String())
	}
}
