package account

import "time"

// Guard is the deletion guard's memory of one account (see [Journal]): the
// account's most recently examined messages, and whether the guard holds
// the account. The Pipeline judges the window across checks, so that a
// misconfigured directory checked every few minutes, a handful of messages
// at a time, trips the guard as surely as one large check does.
type Guard struct {
	// Window lists the most recently examined messages, oldest first, one
	// entry per message key; the writer bounds its length.
	Window []Examined `json:"window,omitempty"`
	// Tripped is when the guard tripped; zero while it does not hold the
	// account. Once set it stays until a write clears it: the
	// administrator's release.
	Tripped time.Time `json:"tripped,omitzero"`
	// Released is when the administrator released the guard, confirming
	// the account's messages without a valid recipient: the next check
	// that judges deletes them whatever their share, then starts a new
	// window. Zero otherwise.
	Released time.Time `json:"released,omitzero"`
}

// Examined is one message in a [Guard]'s window: its key and whether it had
// no valid recipient.
type Examined struct {
	Key         string `json:"key"`
	NoRecipient bool   `json:"no_recipient,omitempty"`
}

// Holds reports whether the guard holds the account (it tripped and was
// not released).
func (g Guard) Holds() bool { return !g.Tripped.IsZero() }

// NoRecipient returns how many messages of the window had no valid
// recipient.
func (g Guard) NoRecipient() int {
	n := 0
	for _, e := range g.Window {
		if e.NoRecipient {
			n++
		}
	}
	return n
}

// IsZero reports whether g records nothing.
func (g Guard) IsZero() bool { return len(g.Window) == 0 && g.Tripped.IsZero() && g.Released.IsZero() }

// Add returns g with the examined messages added at the end of its window,
// each replacing an earlier entry of its key (a message kept and examined
// again counts once), and only the newest size entries kept.
func (g Guard) Add(size int, msgs ...Examined) Guard {
	out := g
	out.Window = nil
	latest := make(map[string]int, len(g.Window)+len(msgs))
	all := append(append([]Examined(nil), g.Window...), msgs...)
	for i, e := range all {
		latest[e.Key] = i
	}
	for i, e := range all {
		if latest[e.Key] == i {
			out.Window = append(out.Window, e)
		}
	}
	if size > 0 && len(out.Window) > size {
		out.Window = out.Window[len(out.Window)-size:]
	}
	return out
}

// clone returns a copy of g that shares nothing with it.
func (g Guard) clone() Guard {
	g.Window = append([]Examined(nil), g.Window...)
	if len(g.Window) == 0 {
		g.Window = nil
	}
	return g
}
