package multidrop

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/spool"
	"github.com/multidrop/multidrop/parse"
)

// parsed is what the pipeline learned from one message's header.
type parsed struct {
	res        *parse.Result
	keepReason string // non-empty: keep the message without resolving
	loop       bool   // it carries this host's loop stamp
	// copyID identifies copies of one message: its Message-ID with a digest
	// of its body, so that another message reusing a Message-ID (careless
	// software, a forger) is not taken for a copy. "" without a Message-ID.
	// Set by digests.
	copyID string
	bodyAt int64 // offset of the body in the message
	// subject and from are the Subject and From fields as parse.Text.
	subject, from string
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
	cr := &countingReader{r: r}
	br := headerReaders.Get().(*bufio.Reader)
	br.Reset(cr)
	defer func() {
		br.Reset(nil)
		headerReaders.Put(br)
	}()
	h, err := parse.ReadHeader(br, nil)
	if err != nil {
		return nil, err
	}
	res, err := parse.Candidates(h, opts)
	if err != nil {
		return nil, err
	}
	pm := &parsed{res: res, bodyAt: cr.n - int64(br.Buffered()),
		subject: parse.Text(h.Get("Subject"), 0), from: parse.Text(h.Get("From"), 0)}
	for _, l := range res.Loops {
		if l.Kind == parse.LoopStamp {
			pm.keepReason = fmt.Sprintf("loop: the message carries this host's %s stamp", account.LoopField)
			pm.loop = true
		}
	}
	if res.MissingEnvelope {
		pm.keepReason = "envelope-only mode and no trusted envelope header"
	}
	return pm, nil
}

// headerReaders holds the buffered readers of parseMessage.
var headerReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// digests sets, in one reading of the spooled message, mr.Digest when it
// is not set yet and, with pm, pm.copyID: the body digest is that of the
// bytes after the header, as copies differ only in their trace and
// envelope fields.
func digests(mr *MessageReport, sp *spool.Spool, pm *parsed) error {
	var whole, body hash.Hash
	var ws []io.Writer
	if mr.Digest == "" {
		whole = sha256.New()
		ws = append(ws, whole)
	}
	var from int64
	if pm != nil && pm.res.MessageID != "" {
		body = sha256.New()
		if whole != nil {
			// The header goes to the whole digest only.
			if _, err := sp.WriteRangeTo(whole, 0, pm.bodyAt); err != nil {
				return err
			}
		}
		from = pm.bodyAt
		ws = append(ws, body)
	}
	if len(ws) == 0 {
		return nil
	}
	if _, err := sp.WriteRangeTo(io.MultiWriter(ws...), from, sp.Size()-from); err != nil {
		return err
	}
	if whole != nil {
		mr.Digest = "sha256:" + hex.EncodeToString(whole.Sum(nil))
	}
	if body != nil {
		pm.copyID = pm.res.MessageID + " " + hex.EncodeToString(body.Sum(nil)[:16])
	}
	return nil
}
