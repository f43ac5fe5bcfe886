package pop

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		line      string
		cont      bool
		ok, valid bool
		isCont    bool
		code      string
		text      string
	}{
		{line: "+OK", ok: true, valid: true},
		{line: "+OK ready", ok: true, valid: true, text: "ready"},
		{line: "+ok lower case", ok: true, valid: true, text: "lower case"},
		{line: "-ERR", valid: true},
		{line: "-ERR [IN-USE] locked", valid: true, code: "IN-USE", text: "locked"},
		{line: "-ERR [LOGIN-DELAY] wait", valid: true, code: "LOGIN-DELAY", text: "wait"},
		{line: "-ERR [SYS/TEMP] later", valid: true, code: "SYS/TEMP", text: "later"},
		{line: "-ERR [sys/perm] never", valid: true, code: "SYS/PERM", text: "never"},
		{line: "-ERR [AUTH] bad password", valid: true, code: "AUTH", text: "bad password"},
		{line: "-ERR [AUTH]no space", valid: true, code: "AUTH", text: "no space"},
		{line: "-ERR [not a code] text", valid: true, text: "[not a code] text"},
		{line: "-ERR [SYS//TEMP] x", valid: true, text: "[SYS//TEMP] x"},
		{line: "-ERR [] x", valid: true, text: "[] x"},
		{line: "-ERR [SYS/TEMP", valid: true, text: "[SYS/TEMP"},
		{line: "+OKAY", valid: false},
		{line: "-ERROR", valid: false},
		{line: "OK", valid: false},
		{line: "", valid: false},
		{line: "+ ", valid: false},
		{line: "+ Y2hhbGxlbmdl", cont: true, valid: true, isCont: true, text: "Y2hhbGxlbmdl"},
		{line: "+", cont: true, valid: true, isCont: true},
		{line: "+OK done", cont: true, valid: true, ok: true, text: "done"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			st, valid := parseStatus([]byte(tc.line), tc.cont)
			require.Equal(t, tc.valid, valid)
			if !valid {
				return
			}
			assert.Equal(t, tc.ok, st.ok)
			assert.Equal(t, tc.isCont, st.cont)
			assert.Equal(t, tc.code, st.code)
			assert.Equal(t, tc.text, string(st.text))
		})
	}
}

func TestErrorTemporary(t *testing.T) {
	for code, temp := range map[string]bool{
		"": true, "SYS/TEMP": true, "IN-USE": true, "LOGIN-DELAY": true, "SYS": true,
		"SYS/PERM": false, "AUTH": false, "auth": false, "UNKNOWN-THING": true,
	} {
		e := &Error{Command: "PASS", Code: code, Text: "x"}
		assert.Equal(t, temp, e.Temporary(), code)
	}
	assert.Equal(t, "pop: RETR: server said -ERR [SYS/TEMP] try later", (&Error{Command: "RETR", Code: "SYS/TEMP", Text: "try later"}).Error())
}

func TestEscape(t *testing.T) {
	assert.Equal(t, `a\x00b\x1b[31m\xff é`, escape([]byte("a\x00b\x1b[31m\xff é")))
	long := escape(make([]byte, 1000))
	assert.LessOrEqual(t, len(long), maxTextLen+10)
}

func TestParseListings(t *testing.T) {
	n, size, err := parseListLine([]byte("12 3456"))
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	assert.Equal(t, int64(3456), size)
	n, size, err = parseListLine([]byte("1 20 extra info"))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, int64(20), size)
	for _, bad := range []string{"", "1", "0 10", "-1 10", "+1 10", "a 10", "1 -10", "1 1e3", "99999999999 1", "1 9999999999999999999999"} {
		_, _, err := parseListLine([]byte(bad))
		assert.ErrorIs(t, err, ErrBadListing, bad)
	}
	n, uid, err := parseUIDLine([]byte("3 abc-DEF"))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, "abc-DEF", uid)
	_, uid, err = parseUIDLine([]byte("3"))
	require.NoError(t, err)
	assert.Equal(t, "", uid)
	for _, bad := range []string{"", "x abc", "0 abc", " 1 abc"} {
		_, _, err := parseUIDLine([]byte(bad))
		assert.ErrorIs(t, err, ErrBadListing, bad)
	}
	for uid, want := range map[string]string{
		"ok": "", "": "empty", string(make([]byte, 71)): "too long", "a b": "invalid", "é": "invalid",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "",
	} {
		assert.Equal(t, want, uidProblem(uid), "%q", uid)
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("-ERR [SYS/TEMP] later"), true)
	f.Add([]byte("+OK 2 320"), false)
	f.Add([]byte("+ Y2hhbA=="), true)
	f.Fuzz(func(t *testing.T, line []byte, cont bool) {
		st, ok := parseStatus(line, cont)
		if !ok {
			return
		}
		if st.code != "" && !validCode([]byte(st.code)) {
			t.Fatalf("invalid code %q accepted", st.code)
		}
		if st.cont && !cont {
			t.Fatal("continuation without allowCont")
		}
		if len(st.text) > len(line) {
			t.Fatal("text longer than line")
		}
		_ = escape(st.text)
	})
}

func FuzzParseListLine(f *testing.F) {
	f.Add([]byte("1 120"))
	f.Add([]byte("2 00000001 extra"))
	f.Fuzz(func(t *testing.T, line []byte) {
		n, size, err := parseListLine(line)
		if err != nil {
			return
		}
		if n <= 0 || size < 0 {
			t.Fatalf("accepted %q as %d %d", line, n, size)
		}
	})
}

func FuzzParseUIDLine(f *testing.F) {
	f.Add([]byte("1 000000010000abcd"))
	f.Add([]byte("7 "))
	f.Fuzz(func(t *testing.T, line []byte) {
		n, uid, err := parseUIDLine(line)
		if err != nil {
			return
		}
		if n <= 0 || len(uid) >= len(line) {
			t.Fatalf("accepted %q as %d %q", line, n, uid)
		}
		_ = uidProblem(uid)
	})
}
