package accounttest

import (
	"reflect"
	"strings"

	"github.com/multidrop/multidrop/account"
)

// SecretFields are the paths, as [FillMarkers] names them, of the string
// fields of [account.Account] that hold secrets and must never leave the
// process. The proxy URL's password is a secret too; FillMarkers cannot
// mark it inside the URL, so a test sets Proxy itself.
var SecretFields = []string{"Auth.Secret", "TLS.ClientKey"}

// FillMarkers sets every string reachable in *a (struct fields, slice
// elements, map keys and values, pointed-to values; one element each) to
// a marker naming its path, "MARK" + the path without punctuation +
// "MARK", which survives HTML, URL and JSON escaping unchanged, and
// returns the markers by path ("Auth.Secret", "Resolving.Rules[0].Users[0]").
// Tests use it to show that no secret field reaches an output and that
// every other field does.
func FillMarkers(a *account.Account) map[string]string {
	out := map[string]string{}
	fillMarkers(reflect.ValueOf(a).Elem(), "", out)
	return out
}

func fillMarkers(v reflect.Value, path string, out map[string]string) {
	switch v.Kind() {
	case reflect.String:
		m := "MARK" + strings.NewReplacer(".", "", "[", "", "]", "").Replace(path) + "MARK"
		v.SetString(m)
		out[path] = m
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			fillMarkers(v.Field(i), p, out)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillMarkers(s.Index(0), path+"[0]", out)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fillMarkers(k, path+"[key]", out)
		e := reflect.New(v.Type().Elem()).Elem()
		fillMarkers(e, path+"[elem]", out)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillMarkers(p.Elem(), path, out)
		v.Set(p)
	}
}
