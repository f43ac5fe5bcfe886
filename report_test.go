package multidrop

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/resolve"
)

// A message's report keeps no substring of the message's header: the
// strings it took from it (Subject, From, Message-ID, the candidates) are
// copied, so that the header, one string per message, is not kept alive
// by the check's report until the check ends.
func TestMessageReportDetach(t *testing.T) {
	header := "Received: " + strings.Repeat("x", 4000) + "\r\n" +
		"Subject: hello\r\nFrom: Ann <ann@example.org>\r\nMessage-ID: <1@example.org>\r\n" +
		"Delivered-To: bob@example.com\r\n"
	sub := func(s string) string {
		i := strings.Index(header, s)
		if i < 0 {
			t.Fatalf("%q not in the header", s)
		}
		return header[i : i+len(s)]
	}
	cand := parse.Candidate{Address: sub("bob@example.com"), Field: sub("Delivered-To"), Local: sub("bob"), Domain: sub("example.com")}
	mr := &MessageReport{
		Subject: sub("hello"), From: sub("Ann <ann@example.org>"), MessageID: sub("<1@example.org>"),
		Resolution: resolve.Result{
			Recipients:  []resolve.Recipient{{Address: "bob@example.com", Candidate: cand}},
			Rejected:    []resolve.Rejection{{Candidate: cand}},
			Explanation: resolve.Explanation{Steps: []resolve.Decision{{Candidate: cand}}},
		},
	}
	mr.detach()

	lo := uintptr(unsafe.Pointer(unsafe.StringData(header)))
	hi := lo + uintptr(len(header))
	own := func(what, s string) {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		assert.False(t, p >= lo && p < hi, "%s (%q) still points into the header", what, s)
	}
	assert.Equal(t, "hello", mr.Subject)
	assert.Equal(t, "Ann <ann@example.org>", mr.From)
	assert.Equal(t, "<1@example.org>", mr.MessageID)
	own("Subject", mr.Subject)
	own("From", mr.From)
	own("MessageID", mr.MessageID)
	for _, c := range []parse.Candidate{mr.Resolution.Recipients[0].Candidate, mr.Resolution.Rejected[0].Candidate, mr.Resolution.Explanation.Steps[0].Candidate} {
		assert.Equal(t, "bob@example.com", c.Address)
		assert.Equal(t, "Delivered-To", c.Field)
		for _, s := range []string{c.Address, c.Field, c.Local, c.Domain} {
			own("candidate", s)
		}
	}
	// Equal strings share one copy.
	assert.Equal(t, unsafe.StringData(mr.Resolution.Recipients[0].Candidate.Address),
		unsafe.StringData(mr.Resolution.Explanation.Steps[0].Candidate.Address))
}
