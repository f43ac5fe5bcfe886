package account

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An UnknownKeyError reports a key of a JSON document that no field
// decodes: a typo such as "leave_on_sever" that encoding/json would
// silently ignore.
type UnknownKeyError struct {
	// Path is the key's path in the document, such as
	// "accounts[3].retrieval.leave_on_sever" or
	// `resolving.aliases["sales"].x`.
	Path string
}

func (e *UnknownKeyError) Error() string { return fmt.Sprintf("account: unknown key %s", e.Path) }

// CheckKeys returns an [*UnknownKeyError] for the first key (each
// object's keys taken in sorted order) of the JSON document data that
// decoding it into a value of v's type would ignore, and nil when every
// key is known or data is not valid JSON (the decoder reports that).
// Object keys match field names as encoding/json does, ignoring case;
// values of types with their own UnmarshalJSON or UnmarshalText are not
// looked into, nor are embedded structs (Account has none).
func CheckKeys(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil
	}
	return checkKeys(raw, reflect.TypeOf(v), "")
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType        = reflect.TypeFor[time.Time]()
)

func checkKeys(raw any, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t == timeType || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, ok := fieldByKey(t, k)
			p := k
			if path != "" {
				p = path + "." + k
			}
			if !ok {
				return &UnknownKeyError{Path: p}
			}
			if err := checkKeys(obj[k], f.Type, p); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := raw.([]any)
		if !ok {
			return nil
		}
		for i, e := range arr {
			if err := checkKeys(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := checkKeys(obj[k], t.Elem(), path+"["+strconv.Quote(k)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldByKey finds the exported field that encoding/json decodes key
// into: an exact name first, then one that matches ignoring case.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold reflect.StructField
	found := false
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" && !strings.HasPrefix(tag, "-,") {
				continue
			}
			if n != "" {
				name = n
			}
		}
		if name == key {
			return f, true
		}
		if !found && strings.EqualFold(name, key) {
			fold, found = f, true
		}
	}
	return fold, found
}
