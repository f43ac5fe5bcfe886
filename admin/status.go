package admin

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop"
)

// Status is a scheduler's view of one account, for the list's "Next
// check" and "State" columns.
type Status struct {
	// Next is when the schedule checks the account next; zero when it is
	// not known or not scheduled.
	Next time.Time
	// Paused, when not empty, says why the schedule stopped checking the
	// account until it is resumed (an authentication failure).
	Paused string
	// Backoff, when not empty, says why the schedule waits longer than the
	// account's interval (failures in a row, the server's LOGIN-DELAY).
	Backoff string
}

// StatusSource is an optional capability of a [Checker]: the schedule's
// state of each account. Without it the page shows no next check and
// derives no paused state.
type StatusSource interface {
	Status(id string) Status
}

// Resumer is an optional capability of a [Checker]: resume a paused
// account at once (as package schedule's Wake does). With it, paused
// rows offer Resume.
type Resumer interface {
	Resume(id string) bool
}

// OnceChecker is an optional capability of a [Checker]: check an account
// once even when it is disabled, without enabling it. With it, Check Now
// on a disabled account runs one check; without it, the row says that the
// account is disabled.
type OnceChecker interface {
	CheckOnce(ctx context.Context, id string) (*multidrop.Report, error)
}

// checks tracks the Check Now requests running in the background and the
// outcome of those refused before they ran (busy, unknown account), so that
// the list shows "checking..." and then the result without the browser
// waiting, and a reload never checks again.
type checks struct {
	mu      sync.Mutex
	running map[string]time.Time
	refused map[string]checkResult // the last Check Now that did not run, until the next one
	once    map[string]*ReportView // the report of the last check of a disabled account
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

func newChecks() *checks {
	ctx, cancel := context.WithCancel(context.Background())
	return &checks{running: map[string]time.Time{}, refused: map[string]checkResult{}, once: map[string]*ReportView{}, ctx: ctx, cancel: cancel}
}

// start runs fn(ctx, id) in the background unless a check of id started
// here is running; it reports whether it started one.
func (c *checks) start(id string, timeout time.Duration, fn func(context.Context, string) checkResult) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.running[id]; ok || c.ctx.Err() != nil {
		return false
	}
	c.running[id] = time.Now()
	delete(c.refused, id)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, timeout)
		res := fn(ctx, id)
		cancel()
		c.mu.Lock()
		delete(c.running, id)
		if res.Report == nil && res.err != nil {
			c.refused[id] = res
		}
		if res.once && res.Report != nil {
			c.once[id] = res.Report
		}
		c.mu.Unlock()
	}()
	return true
}

// onceReport returns the report of the last check of id as a disabled
// account, or nil.
func (c *checks) onceReport(id string) *ReportView {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.once[id]
}

func (c *checks) state(id string) (running bool, refused *checkResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, running = c.running[id]
	if r, ok := c.refused[id]; ok {
		refused = &r
	}
	return running, refused
}

// close cancels the running checks and waits for them.
func (c *checks) close() {
	c.mu.Lock()
	c.cancel()
	c.mu.Unlock()
	c.wg.Wait()
}

// Close stops the Check Now requests still running in the background (a
// check asked to stop finishes the message in hand and nothing is lost) and
// waits for them. The Handler refuses further checks afterwards.
func (h *Handler) Close() error {
	h.bg.close()
	return nil
}

// errNoHistory answers the history page when Options.History is nil.
var errNoHistory = errors.New("admin: no check history is kept (no History configured)")

// sentenceText is sentence for an error known only by its text (a stored
// record).
func sentenceText(s string) string { return sentence(errors.New(s)) }

// sentence turns an error of a check into a sentence an administrator
// understands; the technical chain stays available beside it.
func sentence(err error) string {
	if err == nil {
		return ""
	}
	var pe *pop.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	msg := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, multidrop.ErrAccountBusy):
		return "The account is being checked already; try again when that check ends."
	case errors.Is(err, multidrop.ErrAccountDisabled):
		return "The account is disabled: enable it to check it."
	case errors.Is(err, account.ErrNotFound):
		return "The account no longer exists."
	case errors.Is(err, multidrop.ErrDeletionGuard):
		return "Most messages had no valid recipient, so they were kept on the server: check the domain's users."
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), strings.Contains(msg, "i/o timeout"):
		return "The server did not answer in time."
	case errors.Is(err, context.Canceled):
		return "The check was stopped before it ended."
	case errors.As(err, &dnsErr):
		return "The server's name could not be found: check the host name."
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certErr),
		strings.Contains(msg, "x509:"):
		return "The server's TLS certificate could not be verified: check the host name, or trust its certificate authority in the TLS details."
	case strings.Contains(msg, "connection refused"):
		return "The server refused the connection: check the host, the port and the security setting."
	case errors.As(err, &pe) && strings.EqualFold(strings.SplitN(pe.Code, "/", 2)[0], "AUTH"),
		strings.Contains(msg, "authentication failed"):
		return "The server refused the user name or password."
	case errors.Is(err, pop.ErrInUse):
		return "The mailbox is in use by another client; the check will be retried."
	case errors.Is(err, pop.ErrLoginDelay):
		return "The server asks to wait before the next login."
	case strings.Contains(msg, "stls"), strings.Contains(msg, "starttls"):
		return "The server does not offer the required STARTTLS."
	case errors.As(err, &opErr):
		return "The connection to the server failed."
	case errors.As(err, &pe):
		return "The server answered with an error."
	}
	return "The check failed."
}
