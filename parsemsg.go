package multidrop

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/resolve"
)

// parsed is what the pipeline learned from one message's header.
type parsed struct {
	res        *parse.Result
	keepReason string // non-empty: keep the message without resolving
	// copyID identifies copies of one message: its Message-ID with a digest
	// of its body, so that another message reusing a Message-ID (careless
	// software, a forger) is not taken for a copy. "" without a Message-ID.
	copyID string
}

// parseOptions maps an account's settings to parse.Options once per check.
func parseOptions(a account.Account, localHost string) (*parse.Options, error) {
	opts, err := parse.OptionsFrom(a.Parsing, append([]string{a.Domain}, a.ExtraDomains...)...)
	if err != nil {
		return nil, err
	}
	opts.LoopID = localHost
	return opts, nil
}

// parseMessage reads the top-level header of a spooled message and finds its
// recipient candidates. A header over the limits is an error: the message is
// kept, never guessed at from a truncated header.
func parseMessage(r io.Reader, opts *parse.Options) (*parsed, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	h, err := parse.ReadHeader(br, nil)
	if err != nil {
		return nil, err
	}
	res, err := parse.Candidates(h, opts)
	if err != nil {
		return nil, err
	}
	pm := &parsed{res: res}
	if res.MessageID != "" {
		// The body follows the header in br: copies differ only in their
		// trace and envelope fields.
		body := sha256.New()
		if _, err := br.WriteTo(body); err != nil {
			return nil, err
		}
		pm.copyID = res.MessageID + " " + hex.EncodeToString(body.Sum(nil)[:16])
	}
	for _, l := range res.Loops {
		if l.Kind == parse.LoopStamp {
			pm.keepReason = fmt.Sprintf("loop: the message carries this host's %s stamp", parse.LoopField)
		}
	}
	if res.MissingEnvelope {
		pm.keepReason = "envelope-only mode and no trusted envelope header"
	}
	return pm, nil
}

// resolveMessage resolves the candidates with the pipeline's Resolver,
// completed by what parse decided (loops, untrusted positions).
func (c *check) resolveMessage(ctx context.Context, pm *parsed) (resolve.Result, error) {
	return resolve.Parsed(ctx, c.p.opt.Resolver, c.a, pm.res)
}

// hasLoop reports whether some candidate was rejected as a loop.
func hasLoop(res resolve.Result) bool {
	for _, r := range res.Rejected {
		if r.Reason == resolve.ReasonLoop {
			return true
		}
	}
	return false
}
