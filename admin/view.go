package admin

import (
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/pop"
)

// ReportView is the JSON form of a [multidrop.Report], as the API returns
// it and the report page shows it.
type ReportView struct {
	Account    string    `json:"account"`
	Start      time.Time `json:"start"`
	DurationMS int64     `json:"duration_ms"`
	Listed     int       `json:"listed"`
	Retrieved  int       `json:"retrieved"`
	Skipped    int       `json:"skipped"`
	Delivered  int       `json:"delivered"`
	Dropped    int       `json:"dropped"`
	Kept       int       `json:"kept"`
	Retry      int       `json:"retry"` // of Kept, for a temporary failure
	Deleted    int       `json:"deleted"`
	Bytes      int64     `json:"bytes"`
	Committed  bool      `json:"committed"`
	Error      string    `json:"error,omitempty"`
	// Problem is Error as a sentence for an administrator.
	Problem string `json:"problem,omitempty"`
	// Guard is set while the deletion guard holds the account
	// (multidrop.Report.Guard).
	Guard    *GuardView    `json:"guard,omitempty"`
	Messages []MessageView `json:"messages"`
}

// GuardView says that the deletion guard holds an account: since when, and
// how many of the messages of its window had no valid recipient. Messages
// without a valid recipient are kept until the administrator releases it
// (multidrop.Pipeline.ReleaseGuard, "multidropd accounts release-guard").
type GuardView struct {
	Since       time.Time `json:"since"`
	NoRecipient int       `json:"no_recipient"`
	Examined    int       `json:"examined"`
}

// MessageView explains what happened to one message of a check.
type MessageView struct {
	Number      int             `json:"number"`
	UID         string          `json:"uid,omitempty"`
	Key         string          `json:"key,omitempty"`
	Size        int64           `json:"size"`
	MessageID   string          `json:"message_id,omitempty"`
	Subject     string          `json:"subject,omitempty"`
	From        string          `json:"from,omitempty"`
	Action      string          `json:"action"`  // "delete" or "keep"
	Outcome     string          `json:"outcome"` // multidrop.Outcome: "delivered", "dropped", "kept", "retry"...
	Reason      string          `json:"reason,omitempty"`
	Warnings    []string        `json:"warnings,omitempty"` // the header's defects
	Recipients  []string        `json:"recipients"`
	Rejected    []RejectionView `json:"rejected,omitempty"`
	Explanation string          `json:"explanation,omitempty"` // resolve.Explanation.String
	Results     []DeliveryView  `json:"results,omitempty"`
	Already     []string        `json:"already,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// RejectionView is a recipient candidate that was not kept.
type RejectionView struct {
	Address string `json:"address"`
	Field   string `json:"field,omitempty"` // the header it came from
	Reason  string `json:"reason"`
	Detail  string `json:"detail,omitempty"`
}

// DeliveryView is the delivery result for one recipient.
type DeliveryView struct {
	Recipient string `json:"recipient"`
	Status    string `json:"status"` // "delivered", "temporary" or "permanent"
	Error     string `json:"error,omitempty"`
}

// CheckResult is the outcome of Check Now for one account: its report, or
// the error that prevented the check (busy, disabled, unknown account).
type CheckResult struct {
	ID     string      `json:"id"`
	Report *ReportView `json:"report,omitempty"`
	Error  string      `json:"error,omitempty"`
	// Problem is Error as a sentence for an administrator.
	Problem string `json:"problem,omitempty"`
}

func statusName(s deliver.Status) string {
	switch s {
	case deliver.Delivered:
		return "delivered"
	case deliver.Permanent:
		return "permanent"
	default:
		return "temporary"
	}
}

func actionName(a pop.Action) string {
	if a == pop.Delete {
		return "delete"
	}
	return "keep"
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// newReportView converts r; nil gives nil.
func newReportView(r *multidrop.Report) *ReportView {
	if r == nil {
		return nil
	}
	v := &ReportView{
		Account: r.Account, Start: r.Start, DurationMS: r.Duration.Milliseconds(),
		Listed: r.Listed, Retrieved: r.Retrieved, Skipped: r.Skipped, Delivered: r.Delivered,
		Dropped: r.Dropped, Kept: r.Kept, Retry: r.Retry, Deleted: r.Deleted, Bytes: r.Bytes,
		Committed: r.Committed, Error: errText(r.Err), Problem: sentence(r.Err), Messages: []MessageView{},
	}
	if g := r.Guard; g != nil {
		v.Guard = &GuardView{Since: g.Since, NoRecipient: g.NoRecipient, Examined: g.Examined}
	}
	for _, m := range r.Messages {
		mv := MessageView{
			Number: m.Number, UID: m.UID, Key: m.Key, Size: m.Size, MessageID: m.MessageID,
			Subject: m.Subject, From: m.From,
			Action: actionName(m.Action), Outcome: string(m.Outcome), Reason: m.Reason,
			Warnings: m.Warnings, Recipients: []string{},
			Already: m.Already, Error: errText(m.Err),
		}
		for _, rc := range m.Resolution.Recipients {
			mv.Recipients = append(mv.Recipients, rc.Address)
		}
		for _, rj := range m.Resolution.Rejected {
			mv.Rejected = append(mv.Rejected, RejectionView{
				Address: rj.Candidate.Address, Field: rj.Candidate.Field,
				Reason: string(rj.Reason), Detail: rj.Detail,
			})
		}
		if len(m.Resolution.Explanation.Steps) > 0 || m.Resolution.Explanation.Mode != "" {
			mv.Explanation = m.Resolution.Explanation.String()
		}
		for _, res := range m.Results {
			mv.Results = append(mv.Results, DeliveryView{
				Recipient: res.Recipient, Status: statusName(res.Status), Error: errText(res.Err),
			})
		}
		v.Messages = append(v.Messages, mv)
	}
	return v
}

// Summary is a one-line outcome, for the list page.
func (v *ReportView) Summary() string {
	if v == nil {
		return "never checked"
	}
	var b strings.Builder
	if v.Error != "" {
		b.WriteString("failed: ")
		b.WriteString(v.Error)
		return b.String()
	}
	b.WriteString("ok: ")
	b.WriteString(plural(v.Listed, "message"))
	b.WriteString(", " + plural(v.Delivered, "delivery") + ", " + itoa(v.Dropped) + " dropped, " + itoa(v.Kept) + " kept")
	return b.String()
}

// Counts is the outcome of a successful check in a few words.
func (v *ReportView) Counts() string {
	return plural(v.Delivered, "delivery") + ", " + itoa(v.Kept) + " kept, " + itoa(v.Dropped) + " dropped"
}

// OK reports whether the check succeeded.
func (v *ReportView) OK() bool { return v != nil && v.Error == "" }

// FieldError is one validation problem in an API error response. Field is
// the Go path of the account field ("Port", "Resolving.Rules[0].Pattern").
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ErrorResponse is the body of every API error.
type ErrorResponse struct {
	Error  string       `json:"error"`
	Fields []FieldError `json:"fields,omitempty"`
}

func fieldErrors(err error) []FieldError {
	var ves account.ValidationErrors
	if errors.As(err, &ves) {
		out := make([]FieldError, 0, len(ves))
		for _, e := range ves {
			out = append(out, FieldError{Field: e.Field, Reason: e.Reason})
		}
		return out
	}
	var ve *account.ValidationError
	if errors.As(err, &ve) {
		return []FieldError{{Field: ve.Field, Reason: ve.Reason}}
	}
	return nil
}

// domainsOf returns the sorted distinct domains of accs, for the
// "For Domain" drop-down.
func domainsOf(accs []account.Account) []string {
	set := map[string]bool{}
	for _, a := range accs {
		for _, d := range a.Domains() {
			set[d] = true
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}
