package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
)

// GuardKeeper is an optional capability of a [Checker]: the deletion
// guard's state of each account, and its release by the administrator.
// *multidrop.Pipeline satisfies it. With it, the list's State column says
// when the guard holds an account (and why), the report page shows the
// same, and Release guard clears it (see [multidrop.Pipeline.ReleaseGuard]).
type GuardKeeper interface {
	// Guard returns the deletion guard's state of the account.
	Guard(ctx context.Context, id string) (account.Guard, error)
	// ReleaseGuard clears it and reports whether the guard held the
	// account; it fails with [multidrop.ErrAccountBusy] while the account
	// is being checked.
	ReleaseGuard(ctx context.Context, id string) (bool, error)
}

var _ GuardKeeper = (*multidrop.Pipeline)(nil)

// GuardState is the answer of POST /api/accounts/{id}/release-guard: the
// account's deletion guard after the release.
type GuardState struct {
	ID string `json:"id"`
	// Released says whether the guard held the account before the
	// release.
	Released bool `json:"released"`
	// Guard is set while the guard holds the account (never after a
	// successful release).
	Guard *GuardView `json:"guard,omitempty"`
}

// guardViewOf is g as a GuardView, nil when it does not hold the account.
func guardViewOf(g account.Guard) *GuardView {
	if !g.Holds() {
		return nil
	}
	return &GuardView{Since: g.Tripped, NoRecipient: g.NoRecipient(), Examined: len(g.Window)}
}

// Reason is the guard's hold in a sentence, as the list and the report
// show it.
func (g *GuardView) Reason() string {
	return fmt.Sprintf("since %s: %d of the last %d messages had no valid recipient; those are kept until you release the guard",
		g.Since.UTC().Format("2006-01-02 15:04 UTC"), g.NoRecipient, g.Examined)
}

// guardKeeper returns the Checker's GuardKeeper, or nil.
func (h *Handler) guardKeeper() GuardKeeper {
	gk, _ := h.opt.Checker.(GuardKeeper)
	return gk
}

// guardOf returns the deletion guard's hold of account id, nil when it
// does not hold it or without a GuardKeeper. An error reading it is logged
// and shows nothing.
func (h *Handler) guardOf(ctx context.Context, id string) *GuardView {
	gk := h.guardKeeper()
	if gk == nil {
		return nil
	}
	g, err := gk.Guard(ctx, id)
	if err != nil {
		h.opt.Logger.Warn("admin: deletion guard", "account", id, "err", err)
		return nil
	}
	return guardViewOf(g)
}

// releaseGuard releases the guard of account id, which must exist, and
// logs it.
func (h *Handler) releaseGuard(ctx context.Context, gk GuardKeeper, id string) (bool, error) {
	if _, err := h.opt.Store.Get(ctx, id); err != nil {
		return false, err
	}
	held, err := gk.ReleaseGuard(ctx, id)
	if err != nil {
		return false, err
	}
	h.opt.Logger.Info("admin: deletion guard released", "account", id, "held", held)
	return held, nil
}

// submitReleaseGuard releases the deletion guard of the selected accounts
// and goes back (303) to the list, or to the report page with to=report,
// with a notice saying what became of each.
func (h *Handler) submitReleaseGuard(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, 0, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	gk := h.guardKeeper()
	if gk == nil {
		h.fail(w, r, 0, errNoChecker)
		return
	}
	ids := uniq(r.PostForm["id"])
	if len(ids) == 0 {
		h.fail(w, r, 0, errNoIDs)
		return
	}
	v := url.Values{}
	for _, id := range ids {
		held, err := h.releaseGuard(r.Context(), gk, id)
		switch {
		case err == nil && held:
			v.Add("released", id)
		case err == nil:
			v.Add("unheld", id)
		case errors.Is(err, multidrop.ErrAccountBusy):
			v.Add("busy", id)
		default:
			h.fail(w, r, 0, err)
			return
		}
	}
	if r.PostForm.Get("to") == "report" && len(ids) == 1 {
		http.Redirect(w, r, h.url("/report/", url.PathEscape(ids[0]), "?", v.Encode()), http.StatusSeeOther)
		return
	}
	back := r.PostForm.Get("back")
	if back == "" {
		back = "?"
	} else {
		back += "&"
	}
	http.Redirect(w, r, h.url("/", back, v.Encode()), http.StatusSeeOther)
}

// guardNotice is the notice of a page Release guard came back to, from
// its query; "" when there is none.
func guardNotice(q url.Values) string {
	var parts []string
	if ids := q["released"]; len(ids) > 0 {
		parts = append(parts, "Deletion guard released for "+strings.Join(ids, ", ")+": the next check deletes the messages without a valid recipient.")
	}
	if ids := q["unheld"]; len(ids) > 0 {
		parts = append(parts, "The deletion guard did not hold "+strings.Join(ids, ", ")+".")
	}
	if ids := q["busy"]; len(ids) > 0 {
		parts = append(parts, strings.Join(ids, ", ")+" is being checked: release the guard again when the check ends.")
	}
	return strings.Join(parts, " ")
}

// apiReleaseGuard is POST /api/accounts/{id}/release-guard.
func (h *Handler) apiReleaseGuard(w http.ResponseWriter, r *http.Request) {
	gk := h.guardKeeper()
	if gk == nil {
		h.fail(w, r, 0, errNoChecker)
		return
	}
	id := r.PathValue("id")
	held, err := h.releaseGuard(r.Context(), gk, id)
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	writeJSON(w, http.StatusOK, GuardState{ID: id, Released: held, Guard: h.guardOf(r.Context(), id)})
}
