package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/probe"
)

// Prober tries an account without saving or changing it: the Edit POP
// Account screen's Test connection ([probe.Test]) and Preview
// ([probe.Preview]) run it on the values in the form. [Probe] is the
// Prober of fixed options; the daemon's follows its configuration.
type Prober interface {
	// Test connects, verifies TLS, reads the capabilities, logs in, counts
	// the messages and quits; the result is never nil.
	Test(ctx context.Context, a account.Account) *probe.TestResult
	// Preview downloads messages without deleting or delivering any and
	// says what the Pipeline would do with each.
	Preview(ctx context.Context, a account.Account) (*probe.PreviewResult, error)
}

// Probe is the Prober of probe.Test and probe.Preview with Options: its
// Downloader (dial and TLS settings, timeouts) for both, its Resolver
// (required for Preview: the Pipeline's), Max and LocalHost for Preview.
type Probe struct {
	Options probe.PreviewOptions
}

var _ Prober = (*Probe)(nil)

// Test implements [Prober].
func (p *Probe) Test(ctx context.Context, a account.Account) *probe.TestResult {
	return probe.Test(ctx, a, &p.Options.Options)
}

// Preview implements [Prober].
func (p *Probe) Preview(ctx context.Context, a account.Account) (*probe.PreviewResult, error) {
	o := p.Options
	return probe.Preview(ctx, a, &o)
}

// errNoProber answers the probe routes without Options.Prober.
var errNoProber = errors.New("admin: no Prober configured (Options.Prober)")

// probeView is the result of Test connection or Preview on the form page.
type probeView struct {
	Kind    string // "test" or "preview"
	Test    *testView
	Preview *previewView
}

// testView is a TestResult for a person: each step, the certificate, a
// verdict.
type testView struct {
	OK      bool
	Verdict string
	Problem string // the error as a sentence
	Error   string // the technical chain
	Steps   []stepView
}

// stepView is one step of Test: its status ("ok", "failed", "not tried")
// and what it found.
type stepView struct {
	Name   string
	Status string
	Detail string
	Cert   *certView
}

// certView is the server's certificate.
type certView struct {
	Subject, Issuer, Names, Pin string
	Expires                     time.Time
	Left                        string // "in 89 days", "EXPIRED"
	Verified                    bool
}

// previewView is a PreviewResult for a person.
type previewView struct {
	Summary  string
	Problem  string
	Error    string
	Messages []previewRow
}

type previewRow struct {
	probe.PreviewMessage
	Rejected []string
	Error    string
}

func (v *stepView) Class() string { return "step-" + strings.ReplaceAll(v.Status, " ", "-") }

// newTestView describes r; now is the clock of the certificate's expiry.
func newTestView(r *probe.TestResult, a account.Account, now time.Time) *testView {
	v := &testView{OK: r.OK(), Verdict: r.Verdict(), Error: errText(r.Err)}
	if !r.OK() {
		v.Problem = sentence(r.Err)
	}
	order := []probe.Step{probe.StepConnect, probe.StepTLS, probe.StepAuthenticate, probe.StepStat}
	failedAt := len(order)
	if i := slices.Index(order, r.Failed); i >= 0 {
		failedAt = i
	}
	status := func(i int) string {
		switch {
		case i < failedAt:
			return "ok"
		case i == failedAt:
			return "failed"
		}
		return "not tried"
	}
	v.Steps = append(v.Steps, stepView{Name: "Connect", Status: status(0), Detail: "to " + r.Address})
	tlsStep := stepView{Name: "TLS", Status: status(1)}
	switch {
	case r.Certificate != nil:
		c := r.Certificate
		tlsStep.Cert = &certView{Subject: c.Subject, Issuer: c.Issuer, Names: strings.Join(c.DNSNames, ", "),
			Pin: c.PinSHA256, Expires: c.NotAfter, Left: daysLeft(now, c.NotAfter), Verified: c.Verified}
		if c.Verified {
			tlsStep.Detail = "certificate verified"
		} else {
			tlsStep.Detail = "certificate NOT trusted"
		}
	case a.Security == account.SecurityNone && r.Failed != probe.StepConnect:
		tlsStep.Status, tlsStep.Detail = "none", "plaintext: the security setting is None"
	}
	v.Steps = append(v.Steps, tlsStep)
	login := stepView{Name: "Login", Status: status(2), Detail: "as " + a.Auth.User}
	if r.LoginDelay > 0 {
		login.Detail += fmt.Sprintf(" (the server asks for %s between logins)", r.LoginDelay)
	}
	v.Steps = append(v.Steps, login)
	// CAPA is read again after the login; a failure there is StepStat.
	capa := stepView{Name: "CAPA", Status: status(3), Detail: strings.Join(r.Capabilities, " ")}
	if r.Failed == probe.StepStat && len(r.Capabilities) > 0 {
		capa.Status = "ok"
	}
	v.Steps = append(v.Steps, capa)
	stat := stepView{Name: "STAT", Status: status(3)}
	if r.Failed == "" || r.Failed == probe.StepQuit {
		stat.Status = "ok"
		stat.Detail = plural(r.Messages, "message") + ", " + strconv.FormatInt(r.Size, 10) + " octets"
	}
	v.Steps = append(v.Steps, stat)
	return v
}

func daysLeft(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d < 0:
		return "EXPIRED"
	case d < 24*time.Hour:
		return "in less than a day"
	}
	return "in " + plural(int(d.Hours()/24), "day")
}

func newPreviewView(r *probe.PreviewResult, err error) *previewView {
	v := &previewView{Error: errText(err)}
	if err != nil {
		v.Problem = sentence(err)
	}
	if r == nil {
		return v
	}
	counts := map[probe.Outcome]int{}
	for _, m := range r.Messages {
		counts[m.Outcome]++
		row := previewRow{PreviewMessage: m, Error: errText(m.Err)}
		for _, rj := range m.Rejected {
			w := rj.Candidate.Address
			if rj.Candidate.Field != "" {
				w += " (" + rj.Candidate.Field + ")"
			}
			w += ": " + string(rj.Reason)
			if rj.Detail != "" {
				w += ", " + rj.Detail
			}
			row.Rejected = append(row.Rejected, w)
		}
		v.Messages = append(v.Messages, row)
	}
	var parts []string
	for _, o := range []probe.Outcome{probe.Deliver, probe.Postmaster, probe.Drop, probe.Keep} {
		if counts[o] > 0 {
			parts = append(parts, strconv.Itoa(counts[o])+" "+outcomeWords[o])
		}
	}
	v.Summary = fmt.Sprintf("%d of %s previewed", len(r.Messages), plural(r.Listed, "message"))
	if len(parts) > 0 {
		v.Summary += " (" + strings.Join(parts, ", ") + ")"
	}
	v.Summary += "; nothing was deleted or delivered."
	return v
}

// outcomeWords are the preview's outcomes as the page says them.
var outcomeWords = map[probe.Outcome]string{
	probe.Deliver: "to deliver", probe.Postmaster: "for the postmaster", probe.Drop: "to drop", probe.Keep: "to keep",
}

// probeRoute serves Test connection (kind "test") or Preview ("preview")
// of the new-account form or of an account's form.
func (h *Handler) probeRoute(isNew bool, kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { h.runProbe(w, r, isNew, kind) }
}

// runProbe builds the account from the submitted form exactly as Save
// does, validates it the same way, and runs Test connection or Preview on
// it within Options.ProbeTimeout; the form page comes back with the
// result and the form's values (secrets excepted). Nothing is saved.
func (h *Handler) runProbe(w http.ResponseWriter, r *http.Request, isNew bool, kind string) {
	if h.opt.Prober == nil {
		h.fail(w, r, http.StatusNotImplemented, errNoProber)
		return
	}
	sub, ok := h.readForm(w, r, isNew)
	if !ok {
		return
	}
	if len(sub.errs) == 0 {
		if err := sub.a.Validate(); err != nil {
			sub.verr = err
		}
	}
	if len(sub.errs) > 0 || sub.verr != nil {
		d := h.formPage(r, sub)
		d.Error = "Nothing was tried: correct the fields marked below."
		h.render(w, r, http.StatusUnprocessableEntity, "edit", d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opt.ProbeTimeout)
	defer cancel()
	pv := &probeView{Kind: kind}
	a := sub.a
	if a.ID == "" {
		a.ID = "(new)"
	}
	if kind == "test" {
		pv.Test = newTestView(h.opt.Prober.Test(ctx, a), a, time.Now())
		h.opt.Logger.Info("admin: test connection", "account", a.ID, "host", a.Host, "ok", pv.Test.OK)
	} else {
		res, err := h.opt.Prober.Preview(ctx, a)
		pv.Preview = newPreviewView(res, err)
		attrs := []any{"account", a.ID, "host", a.Host, "messages", len(pv.Preview.Messages)}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		h.opt.Logger.Info("admin: preview", attrs...)
	}
	d := h.formPage(r, sub)
	d.Probe = pv
	h.render(w, r, http.StatusOK, "edit", d)
}
