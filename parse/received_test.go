package parse

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseReceived(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		by     string
		hasFor bool
		args   []string
	}{
		{"postfix", "from mx1.shop.example (mx1.shop.example [198.51.100.7]) (using TLSv1.3) by mx.provider.example (Postfix) with ESMTPS id 4Vx\tfor <alice@example.com>; Mon, 3 Jun 2024", "mx.provider.example", true, []string{"<alice@example.com>"}},
		{"exim bare path", "from lists.example ([203.0.113.5]:40000) by server.cpanel.example with esmtps (Exim 4.96.2) (envelope-from <o@lists.example>) id 1sE for heidi@example.com; Mon", "server.cpanel.example", true, []string{"heidi@example.com"}},
		{"no for", "by 2002:a05:6a10:1234 with SMTP id abc; Mon", "2002:a05:6a10:1234", false, nil},
		{"for in a comment", "from a (for <x@example.com>) by b (for <y@example.com>); Mon", "b", false, nil},
		{"for after the date", "from a by b; Mon, for <x@example.com>", "b", false, nil},
		{"two paths", "from a by b for <x@example.com> <y@example.com>; Mon", "b", true, []string{"<x@example.com>", "<y@example.com>"}},
		{"multiple recipients", "from a by b for multiple recipients; Mon", "b", true, []string{"multiple", "recipients"}},
		{"for is a keyword only as a word", "from for.example by b with before id form; x", "b", false, nil},
		{"upper case keywords", "FROM a BY B.Example FOR <z@example.com>", "B.Example", true, []string{"<z@example.com>"}},
		{"quoted local part", `from a by b for <"x y"@example.com>; Mon`, "b", true, []string{`<"x y"@example.com>`}},
		{"angle with spaces and a quote", `from a by b for <"a>b" @example.com>; Mon`, "b", true, []string{`<"a>b" @example.com>`}},
		{"unterminated comment", "from a (by evil for <x@example.com>", "", false, nil},
		{"empty", "", "", false, nil},
		{"two for clauses", "by b for <a@example.com> with x for <b@example.com>", "b", true, []string{"<a@example.com>", "<b@example.com>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseReceived(tt.in)
			assert.Equal(t, tt.by, r.by)
			assert.Equal(t, tt.hasFor, r.hasFor)
			if len(tt.args) == 0 {
				assert.Empty(t, r.forArgs)
			} else {
				assert.Equal(t, tt.args, r.forArgs)
			}
		})
	}
}

func TestHostMatches(t *testing.T) {
	hosts := []string{"mx.provider.example", ".relay.example.", ""}
	for host, want := range map[string]bool{
		"mx.provider.example":   true,
		"MX.Provider.Example.":  true,
		"a.relay.example":       true,
		"b.a.relay.example":     true,
		"relay.example":         false,
		"evilrelay.example":     false,
		"mx.provider.example.x": false,
		"":                      false,
	} {
		assert.Equal(t, want, hostMatches(host, hosts), host)
	}
}
