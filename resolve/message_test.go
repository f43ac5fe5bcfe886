package resolve

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

func TestMessageWithAnyResolver(t *testing.T) {
	alice := cand("To", 1, parse.StageGuess, "alice@example.com")
	bob := cand("To", 1, parse.StageGuess, "bob@example.com")
	forged := cand("Delivered-To", 2, parse.StageEnvelope, "carol@example.com")
	var got []parse.Candidate
	r := Func(func(ctx context.Context, a account.Account, c []parse.Candidate) (Result, error) {
		got = c
		var res Result
		for _, x := range c {
			res.Recipients = append(res.Recipients, Recipient{Address: x.Address, Candidate: x})
		}
		return res, nil
	})

	t.Run("delivered-to loop", func(t *testing.T) {
		got = nil
		pr := &parse.Result{
			Mode: account.ModeChain, Decided: parse.StageGuess,
			Candidates: []parse.Candidate{alice, bob},
			Untrusted:  []parse.Candidate{forged},
			Loops:      []parse.Loop{{Kind: parse.LoopDelivered, Field: "Delivered-To", Occurrence: 3, Address: "ALICE@example.com"}},
		}
		res, err := Message(t.Context(), r, testAccount(), pr)
		require.NoError(t, err)
		assert.Equal(t, []parse.Candidate{bob}, got, "the looping candidate never reaches the resolver")
		require.Len(t, res.Rejected, 2)
		assert.Equal(t, Rejection{Candidate: alice, Reason: ReasonLoop, Detail: "Delivered-To#3 shows it was delivered to this address before"}, res.Rejected[0])
		assert.Equal(t, ReasonUntrusted, res.Rejected[1].Reason)
		assert.Equal(t, account.ModeChain, res.Explanation.Mode, "filled from parse for resolvers that do not explain")
		assert.Equal(t, parse.StageGuess, res.Explanation.Decided)
		assert.Len(t, res.Explanation.Steps, 2)
	})

	t.Run("stamp", func(t *testing.T) {
		got = nil
		pr := &parse.Result{Candidates: []parse.Candidate{alice, bob}, Loops: []parse.Loop{{Kind: parse.LoopStamp, Field: account.LoopField, Occurrence: 1}}}
		res, err := Message(t.Context(), Func(func(context.Context, account.Account, []parse.Candidate) (Result, error) {
			t.Fatal("resolver called for a stamped message")
			return Result{}, nil
		}), testAccount(), pr)
		require.NoError(t, err)
		assert.Empty(t, res.Recipients)
		require.Len(t, res.Rejected, 2)
		for _, r := range res.Rejected {
			assert.Equal(t, ReasonLoop, r.Reason)
		}
	})

	t.Run("error", func(t *testing.T) {
		boom := &LookupError{Domain: "example.com", Key: "x", Err: context.DeadlineExceeded}
		_, err := Message(t.Context(), Func(func(context.Context, account.Account, []parse.Candidate) (Result, error) {
			return Result{}, boom
		}), testAccount(), &parse.Result{Candidates: []parse.Candidate{alice}})
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestMapperLocal(t *testing.T) {
	m := New(testDirectory(t), nil)
	a := testAccount()
	for domain, want := range map[string]bool{
		"example.com": true, "EXAMPLE.COM": true, "xn--bcher-kva.example": true, "BÜCHER.example": true,
		"mail.example.com": false, "example.com.": false, "[192.0.2.1]": false, "example.org": false, "": false,
	} {
		assert.Equal(t, want, m.Local(a, domain), domain)
	}
	a.Resolving.Subdomains = true
	assert.True(t, m.Local(a, "mail.example.com"))
	a.Domain = ""
	assert.False(t, m.Local(a, "example.com"), "invalid settings: nothing is local")
}
