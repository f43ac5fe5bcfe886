package resolve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/parse"
)

// hugeTo builds a header whose To field lists n addresses, folded ten to
// a line.
func hugeTo(n int) []byte {
	var b bytes.Buffer
	b.WriteString("Message-ID: <huge@sender.org>\nTo: ")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
			if i%10 == 0 {
				b.WriteString("\n ")
			} else {
				b.WriteString(" ")
			}
		}
		fmt.Fprintf(&b, "u%d@example.com", i)
	}
	b.WriteString("\nSubject: many\n\nbody\n")
	return b.Bytes()
}

// A 100,000-address To line: with the default limits parse refuses it
// with a typed error; without limits the resolver stops looking users up
// at the recipient cap and rejects the rest as over the cap.
func TestHugeToLine(t *testing.T) {
	header := hugeTo(100_000)

	_, err := parse.ReadHeader(bufio.NewReader(bytes.NewReader(header)), nil)
	var le *parse.LimitError
	require.ErrorAs(t, err, &le, "default limits")

	unlimited := parse.Limits{MaxHeaderBytes: -1, MaxFields: -1, MaxLineLength: -1, MaxAddressesPerField: -1, MaxAddresses: -1}
	h, err := parse.ReadHeader(bufio.NewReader(bytes.NewReader(header)), &unlimited)
	require.NoError(t, err)
	pr, err := parse.Candidates(h, &parse.Options{Domains: []string{"example.com"}, Limits: unlimited})
	require.NoError(t, err)
	require.Len(t, pr.Candidates, 100_000)

	var lookups atomic.Int64
	dir := DirectoryFunc(func(ctx context.Context, domain, local string) ([]string, error) {
		lookups.Add(1)
		return []string{local + "@" + domain}, nil
	})
	res, err := Message(t.Context(), New(dir, nil), testAccount(), pr)
	require.NoError(t, err)
	assert.Len(t, res.Recipients, DefaultMaxRecipients)
	assert.Len(t, res.Rejected, 100_000-DefaultMaxRecipients)
	assert.Equal(t, ReasonOverCap, res.Rejected[0].Reason)
	assert.Equal(t, int64(DefaultMaxRecipients), lookups.Load(), "no lookups past the cap")
	assert.True(t, strings.HasSuffix(strings.TrimSpace(res.Explanation.String()), "... 99800 more"))
}

// A 2 MiB header: refused by default, resolved without limits.
func TestTwoMiBHeader(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Delivered-To: alice@example.com\n")
	for i := 0; b.Len() < 2<<20; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\n", i, strings.Repeat("x", 200))
	}
	b.WriteString("To: bob@example.com\n\nbody\n")
	header := b.Bytes()

	_, err := parse.ReadHeader(bufio.NewReader(bytes.NewReader(header)), nil)
	var le *parse.LimitError
	require.ErrorAs(t, err, &le)

	unlimited := parse.Limits{MaxHeaderBytes: -1, MaxFields: -1}
	h, err := parse.ReadHeader(bufio.NewReader(bytes.NewReader(header)), &unlimited)
	require.NoError(t, err)
	pr, err := parse.Candidates(h, &parse.Options{Domains: []string{"example.com"}})
	require.NoError(t, err)
	res, err := Message(t.Context(), New(testDirectory(t), nil), testAccount(), pr)
	require.NoError(t, err)
	require.Len(t, res.Recipients, 1)
	assert.Equal(t, "alice@example.com", res.Recipients[0].Address)
	assert.Equal(t, parse.StageEnvelope, res.Explanation.Decided)
}
