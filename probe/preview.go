package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// DefaultPreviewMessages is PreviewOptions.Max when zero.
const DefaultPreviewMessages = 50

// PreviewOptions configure Preview.
type PreviewOptions struct {
	Options
	// Resolver turns candidates into recipients (required): the same the
	// Pipeline uses, such as resolve.New over the user directory.
	Resolver resolve.Resolver
	// Max is the most messages downloaded, the first ones in server order
	// (DefaultPreviewMessages when 0).
	Max int
	// LocalHost is this host's name, to recognise its loop stamp (the
	// Pipeline's LocalHost).
	LocalHost string
}

// Outcome is what the Pipeline would do with a message.
type Outcome string

const (
	Deliver    Outcome = "deliver"    // to Recipients, then delete it
	Drop       Outcome = "drop"       // delete it without a delivery
	Postmaster Outcome = "postmaster" // deliver it to the postmaster, then delete it
	Keep       Outcome = "keep"       // leave it on the server
)

// PreviewMessage is the preview of one message.
type PreviewMessage struct {
	Number int
	UID    string
	Size   int64
	// From and Subject are the message's fields as text to show
	// ([parse.Text]: decoded, no control characters, bounded length).
	From      string
	Subject   string
	MessageID string

	Outcome    Outcome
	Reason     string              // why, in a few words
	Recipients []string            // whom it would be delivered to
	Rejected   []resolve.Rejection // candidates that are not recipients, with reasons
	Err        error               // the message could not be read or parsed (it would be kept)
}

// PreviewResult is what Preview found.
type PreviewResult struct {
	Account  string
	Listed   int // messages on the server
	Messages []PreviewMessage
}

// Preview downloads up to opts.Max messages of a without deleting any (no
// DELE is sent; QUIT ends the session) and says for each what the Pipeline
// would do: the recipients it would deliver to, or that it would drop or
// keep it, and why. The result holds what was previewed even when err is
// set.
func Preview(ctx context.Context, a account.Account, opts *PreviewOptions) (*PreviewResult, error) {
	if opts == nil || opts.Resolver == nil {
		return nil, errors.New("probe: Preview needs a Resolver")
	}
	popts, err := parse.OptionsFrom(a.Parsing, append([]string{a.Domain}, a.ExtraDomains...)...)
	if err != nil {
		return nil, fmt.Errorf("probe: account %s: %w", a.ID, err)
	}
	popts.LoopID = opts.LocalHost
	max := opts.Max
	if max <= 0 {
		max = DefaultPreviewMessages
	}
	h := &previewer{a: a, opts: opts, popts: popts, max: max, r: &PreviewResult{Account: a.ID}}
	err = opts.downloader().Fetch(ctx, a, h)
	return h.r, err
}

// previewer is the pop.Handler and pop.Planner of Preview: it retrieves
// the first max messages and keeps every one.
type previewer struct {
	a     account.Account
	opts  *PreviewOptions
	popts *parse.Options
	max   int
	r     *PreviewResult
}

var _ pop.Planner = (*previewer)(nil)

func (p *previewer) Plan(_ context.Context, s pop.Scan) ([]pop.Step, error) {
	p.r.Listed = len(s.Messages)
	var steps []pop.Step
	for i, m := range s.Messages {
		a := pop.Retrieve
		if i >= p.max {
			a = pop.Keep
		}
		steps = append(steps, pop.Step{Message: m, Action: a})
	}
	return steps, nil
}

func (p *previewer) Handle(ctx context.Context, m pop.MessageInfo, body io.Reader) (pop.Action, error) {
	pm := PreviewMessage{Number: m.Number, UID: m.UID, Size: m.Size}
	p.examine(ctx, &pm, body)
	p.r.Messages = append(p.r.Messages, pm)
	return pop.Keep, nil // never delete
}

func (p *previewer) examine(ctx context.Context, pm *PreviewMessage, body io.Reader) {
	hdr, err := parse.ReadHeader(bufio.NewReaderSize(body, 32<<10), nil)
	if err != nil {
		pm.Outcome, pm.Reason, pm.Err = Keep, "the header cannot be read", err
		return
	}
	pm.From, pm.Subject = parse.Text(hdr.Get("From"), 0), parse.Text(hdr.Get("Subject"), 0)
	res, err := parse.Candidates(hdr, p.popts)
	if err != nil {
		pm.Outcome, pm.Reason, pm.Err = Keep, "the header cannot be parsed", err
		return
	}
	pm.MessageID = res.MessageID
	for _, l := range res.Loops {
		if l.Kind == parse.LoopStamp {
			p.loop(pm, "loop: it carries this host's stamp")
			return
		}
	}
	if res.MissingEnvelope {
		pm.Outcome, pm.Reason = Keep, "envelope-only mode and no trusted envelope header"
		return
	}
	// resolve.Message, as the Pipeline: loop markers, untrusted and
	// unused candidates are rejected with their reasons too.
	rr, err := resolve.Message(ctx, p.opts.Resolver, p.a, res)
	if err != nil {
		pm.Outcome, pm.Reason, pm.Err = Keep, "the recipients cannot be resolved", err
		return
	}
	pm.Rejected = rr.Rejected
	for _, rc := range rr.Recipients {
		pm.Recipients = append(pm.Recipients, rc.Address)
	}
	if len(pm.Recipients) > 0 {
		pm.Outcome = Deliver
		pm.Reason = fmt.Sprintf("%d valid %s", len(pm.Recipients), plural(len(pm.Recipients), "recipient", "recipients"))
		if res.Decided != "" {
			pm.Reason += " from the " + string(res.Decided) + " stage"
		}
		return
	}
	for _, r := range rr.Rejected {
		if r.Reason == resolve.ReasonLoop {
			p.loop(pm, "loop: every recipient has had this message")
			return
		}
	}
	switch p.a.Policy.NoRecipient {
	case account.NoRecipientKeep:
		pm.Outcome, pm.Reason = Keep, "no valid recipient; the account's policy keeps it"
	case account.NoRecipientPostmaster:
		pm.Outcome, pm.Reason = Postmaster, "no valid recipient; the account's policy sends it to "+p.a.Policy.Postmaster
	default:
		pm.Outcome, pm.Reason = Drop, "no valid recipient; the account's policy deletes it"
	}
}

// loop decides a looping message as the account's loop policy does.
func (p *previewer) loop(pm *PreviewMessage, why string) {
	if p.a.Policy.Loop == account.LoopQuarantine {
		pm.Outcome, pm.Reason = Postmaster, why+"; the account's policy quarantines it to "+p.a.Policy.Postmaster
		return
	}
	pm.Outcome, pm.Reason = Keep, why+"; kept"
}
