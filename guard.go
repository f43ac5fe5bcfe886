package multidrop

import (
	"context"
	"fmt"

	"github.com/multidrop/multidrop/account"
)

// Guard returns the deletion guard's state of an account, as the Journal
// keeps it: the window of its most recently examined messages and, when the
// guard holds it, since when. For an admin page between checks; a check's
// Report.Guard says the same at its end.
func (p *Pipeline) Guard(ctx context.Context, id string) (account.Guard, error) {
	g, err := p.opt.Journal.Guard(ctx, id)
	if err != nil {
		return account.Guard{}, fmt.Errorf("multidrop: account %s: deletion guard: %w", id, err)
	}
	return g, nil
}

// ReleaseGuard is the administrator's confirmation that an account the
// deletion guard holds is healthy (its directory fixed, or its mail really
// mostly without valid recipients): it clears the guard's state, tripped
// mark and window alike, and records the release, so that the next check
// applies the no-recipient delete policy again — to the messages the guard
// kept too, whatever their share — and later checks judge a new window.
// It reports whether the guard held the account.
//
// It takes the account as a check does, so it fails with [ErrAccountBusy]
// while the account is being checked, here or (with a shared Locker) by
// another instance: try again once the check is over.
func (p *Pipeline) ReleaseGuard(ctx context.Context, id string) (bool, error) {
	if !p.claim(id) {
		return false, fmt.Errorf("%w: %s", ErrAccountBusy, id)
	}
	defer p.unclaim(id)
	lease, release, err := p.acquire(ctx, id)
	if err != nil {
		return false, err
	}
	defer release()
	j := p.opt.Journal
	if f, ok := j.(account.Fencer); ok && lease != nil {
		j = f.Fenced(lease)
	}
	g, err := j.Guard(ctx, id)
	if err != nil {
		return false, fmt.Errorf("multidrop: account %s: deletion guard: %w", id, err)
	}
	if err := j.SetGuard(ctx, id, account.Guard{Released: p.opt.Now()}); err != nil {
		return false, fmt.Errorf("multidrop: account %s: deletion guard: %w", id, err)
	}
	if g.Holds() {
		p.opt.Logger.Info("deletion guard released", "account", id, "since", g.Tripped,
			"no_recipient", g.NoRecipient(), "examined", len(g.Window))
		p.observe(Event{Kind: EventGuardReleased, Account: id})
	}
	return g.Holds(), nil
}
