package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop"
)

// RecordOf converts the report of a check into the record a
// [account.History] keeps: the counts, the error, and per message its
// UID, subject, sender, recipients, outcome (delivered, kept or
// dropped), reason and warnings (rejected candidates, refused deliveries,
// message errors), and the earliest next login the server allows
// (NextLogin).
func RecordOf(r *multidrop.Report) account.CheckRecord {
	rec := account.CheckRecord{
		AccountID: r.Account, Start: r.Start, Duration: r.Duration,
		Counts: account.CheckCounts{
			Listed: r.Listed, Retrieved: r.Retrieved, Delivered: r.Delivered, Deleted: r.Deleted,
			Kept: r.Kept, Dropped: r.Dropped, Skipped: r.Skipped, Bytes: r.Bytes,
		},
		Error:     errText(r.Err),
		State:     "ok",
		NextLogin: r.NextLogin,
	}
	if r.Err != nil {
		rec.State = "failed"
	}
	for _, m := range r.Messages {
		cm := account.CheckMessage{UID: m.UID, Subject: m.Subject, From: m.From, Reason: m.Reason}
		if cm.UID == "" {
			cm.UID = m.Key
		}
		delivered := false
		for _, res := range m.Results {
			cm.Recipients = append(cm.Recipients, res.Recipient)
			if statusName(res.Status) == "delivered" {
				delivered = true
			} else {
				cm.Warnings = append(cm.Warnings, res.Recipient+": "+statusName(res.Status)+" "+errText(res.Err))
			}
		}
		if len(m.Results) == 0 {
			for _, rc := range m.Resolution.Recipients {
				cm.Recipients = append(cm.Recipients, rc.Address)
			}
		}
		for _, rj := range m.Resolution.Rejected {
			w := rj.Candidate.Address + " (" + rj.Candidate.Field + "): " + string(rj.Reason)
			if rj.Detail != "" {
				w += ", " + rj.Detail
			}
			cm.Warnings = append(cm.Warnings, w)
		}
		if m.Err != nil {
			cm.Warnings = append(cm.Warnings, m.Err.Error())
		}
		switch {
		case m.Action != pop.Delete:
			cm.Outcome = "kept"
		case delivered || len(m.Already) > 0:
			cm.Outcome = "delivered"
		default:
			cm.Outcome = "dropped"
		}
		rec.Messages = append(rec.Messages, cm)
	}
	return rec
}

// HistoryRecorder returns an Observer (for [multidrop.Options].Observer)
// that adds a record of each finished check to h; a failure to write is
// logged to log (nil: not logged) and does not affect the check.
func HistoryRecorder(h account.History, log *slog.Logger) func(multidrop.Event) {
	return func(e multidrop.Event) {
		if e.Kind != multidrop.EventCheckEnd || e.Report == nil {
			return
		}
		rec := RecordOf(e.Report)
		if rec.AccountID == "" {
			rec.AccountID = e.Account
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.AddCheck(ctx, rec); err != nil && log != nil {
			log.Warn("admin: recording the check in the history", "account", rec.AccountID, "err", err)
		}
	}
}

// historyEntry is one check on the history page.
type historyEntry struct {
	account.CheckRecord
	Problem string
}

// Took is the duration rounded for reading.
func (e historyEntry) Took() time.Duration {
	if e.Duration >= time.Second {
		return e.Duration.Round(100 * time.Millisecond)
	}
	return e.Duration.Round(time.Millisecond)
}

func (h *Handler) pageHistory(w http.ResponseWriter, r *http.Request) {
	if h.opt.History == nil {
		h.fail(w, r, http.StatusNotFound, errNoHistory)
		return
	}
	a, err := h.opt.Store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	recs, err := h.opt.History.Checks(r.Context(), a.ID, account.HistoryLimit)
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	d := &pageData{Title: "History of " + a.ID, Form: &formView{ID: a.ID}, Rows: []row{{Account: a.Redacted(), Now: time.Now()}}}
	for _, rec := range recs {
		e := historyEntry{CheckRecord: rec}
		if rec.Error != "" {
			e.Problem = sentenceText(rec.Error)
		}
		d.History = append(d.History, e)
	}
	h.render(w, r, http.StatusOK, "history", d)
}
