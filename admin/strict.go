package admin

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// unknownKey returns the path ("auth.secrte", "resolving.rules[1].users2")
// of the first key of the JSON document data, in key order, that no field
// of t takes, or "" when every key is known. Keys match json tags as
// encoding/json matches them: exactly, else without regard to case.
func unknownKey(data []byte, t reflect.Type) string {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return "" // the decoder reports the syntax error
	}
	return walkKeys(v, t, "")
}

func walkKeys(v any, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				for name, f := range fields {
					if strings.EqualFold(name, k) {
						ft, ok = f, true
						break
					}
				}
			}
			p := k
			if path != "" {
				p = path + "." + k
			}
			if !ok {
				return p
			}
			if bad := walkKeys(obj[k], ft, p); bad != "" {
				return bad
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return ""
		}
		for i, e := range arr {
			if bad := walkKeys(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); bad != "" {
				return bad
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if bad := walkKeys(obj[k], t.Elem(), path+"."+k); bad != "" {
				return bad
			}
		}
	}
	return ""
}

// jsonFields maps the JSON names of t's fields (embedded structs
// flattened) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
