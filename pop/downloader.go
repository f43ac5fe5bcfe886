package pop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"golang.org/x/net/proxy"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/saslmech"
)

// Downloader is the default [Fetcher]: one POP3 session per Fetch, with the
// account's connection settings. The zero value is ready to use; its fields
// must not change while Fetch runs.
type Downloader struct {
	// Options are the defaults of every session: each field of
	// Options.Timeouts applies where the account's Timeouts leave it zero
	// (the Default* constants where both are zero); DebugWriter receives
	// the raw protocol with credentials redacted; AllowInsecureAuth
	// permits a plaintext password for every account, in addition to the
	// account's Auth.AllowInsecure.
	Options
	// Dialer makes the TCP connection (a *net.Dialer when nil). With an
	// account Proxy it dials the proxy.
	Dialer Dialer
	// Logger receives session events at Debug level (slog.Default() when
	// nil). Credentials are never logged.
	Logger *slog.Logger
	// Token returns the OAuth access token for XOAUTH2 and OAUTHBEARER
	// (the account's Auth.Secret when nil). The token is never logged.
	Token func(ctx context.Context, a account.Account) (string, error)
}

var _ Fetcher = (*Downloader)(nil)

func (d *Downloader) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// mergeTimeouts returns a with each zero field taken from d.
func mergeTimeouts(a, d account.Timeouts) account.Timeouts {
	or := func(x, y time.Duration) time.Duration {
		if x != 0 {
			return x
		}
		return y
	}
	a.Dial = or(a.Dial, d.Dial)
	a.Command = or(a.Command, d.Command)
	a.Data = or(a.Data, d.Data)
	a.Message = or(a.Message, d.Message)
	a.RateWindow = or(a.RateWindow, d.RateWindow)
	a.Session = or(a.Session, d.Session)
	if a.MinRate == 0 {
		a.MinRate = d.MinRate
	}
	if a.Window == 0 {
		a.Window = d.Window
	}
	if a.MaxListing == 0 {
		a.MaxListing = d.MaxListing
	}
	return a
}

// dialerAdapter lets a Dialer forward x/net/proxy connections.
type dialerAdapter struct{ d Dialer }

func (a dialerAdapter) Dial(network, address string) (net.Conn, error) {
	return a.d.DialContext(context.Background(), network, address)
}

func (a dialerAdapter) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return a.d.DialContext(ctx, network, address)
}

// dialer returns the dialer for a, through its SOCKS5 proxy when set.
func (d *Downloader) dialer(a account.Account) (Dialer, error) {
	var base Dialer = &net.Dialer{}
	if d.Dialer != nil {
		base = d.Dialer
	}
	if a.Proxy == "" {
		return base, nil
	}
	u, err := url.Parse(a.Proxy)
	if err != nil || (u.Scheme != "socks5" && u.Scheme != "socks5h") || u.Host == "" {
		return nil, fmt.Errorf("pop: account %s: proxy must be socks5://[user:pass@]host:port", a.ID)
	}
	var auth *proxy.Auth
	if u.User != nil {
		pw, _ := u.User.Password()
		auth = &proxy.Auth{User: u.User.Username(), Password: pw}
	}
	pd, err := proxy.SOCKS5("tcp", u.Host, auth, dialerAdapter{base})
	if err != nil {
		return nil, fmt.Errorf("pop: account %s: proxy: %w", a.ID, err)
	}
	cd, ok := pd.(proxy.ContextDialer)
	if !ok {
		return nil, fmt.Errorf("pop: account %s: proxy dialer cannot honour a context", a.ID)
	}
	return cd, nil
}

// Connect opens an authenticated session for a: dial (through the proxy
// when set), TLS as the account's Security says, capabilities, and login
// with the configured or the strongest offered mechanism. The caller owns
// the Client and must Quit or Close it.
func (d *Downloader) Connect(ctx context.Context, a account.Account) (*Client, error) {
	if a.Host == "" {
		return nil, fmt.Errorf("pop: account %s: no host", a.ID)
	}
	opts := &Options{
		Timeouts:          mergeTimeouts(a.Timeouts, d.Timeouts),
		DebugWriter:       d.DebugWriter,
		AllowInsecureAuth: a.Auth.AllowInsecure || d.AllowInsecureAuth,
	}
	dl, err := d.dialer(a)
	if err != nil {
		return nil, err
	}
	sec := a.Security
	if sec == "" {
		sec = account.SecurityTLS
	}
	if a.Auth.Mechanism == account.MechanismExternal && (sec == account.SecurityNone || a.TLS.ClientCert == "") {
		return nil, fmt.Errorf("%w (account %s)", ErrNoClientCert, a.ID)
	}
	var tlsCfg, dialTLS = TLSConfig, true
	switch sec {
	case account.SecurityTLS:
	case account.SecurityStartTLS, account.SecurityNone:
		dialTLS = false
	default:
		return nil, fmt.Errorf("pop: account %s: unknown security %q", a.ID, sec)
	}
	cfg, err := tlsCfg(a)
	if err != nil {
		return nil, err
	}
	addr := a.Address()
	var c *Client
	if dialTLS {
		c, err = Dial(ctx, dl, addr, cfg, opts)
	} else {
		c, err = Dial(ctx, dl, addr, nil, opts)
	}
	if err != nil {
		return nil, err
	}
	log := d.logger().With("account", a.ID)
	if sec == account.SecurityStartTLS {
		caps, err := c.Capabilities(ctx)
		if err != nil {
			c.Close()
			return nil, err
		}
		if len(caps) > 0 && !caps.Has("STLS") {
			c.Close()
			return nil, fmt.Errorf("%w: STLS required by account %s but not offered", ErrNotSupported, a.ID)
		}
		if err := c.StartTLS(ctx, cfg); err != nil {
			c.Close()
			return nil, err
		}
	}
	mech, err := d.authenticate(ctx, c, a)
	if err != nil {
		c.Close()
		return nil, err
	}
	log.DebugContext(ctx, "pop: logged in", "host", addr, "tls", c.IsTLS(), "mechanism", mech)
	return c, nil
}

// autoOrder is the preference of MechanismAuto, strongest first.
var autoOrder = []account.Mechanism{
	account.MechanismSCRAMSHA256, account.MechanismSCRAMSHA1, account.MechanismCRAMMD5,
	account.MechanismPlain, account.MechanismLogin,
}

func (d *Downloader) authenticate(ctx context.Context, c *Client, a account.Account) (account.Mechanism, error) {
	caps, err := c.Capabilities(ctx)
	if err != nil {
		return "", err
	}
	offered := func(m account.Mechanism) bool {
		if len(caps) == 0 { // no CAPA: the server will say
			return true
		}
		if m == account.MechanismUser {
			return caps.Has("USER")
		}
		if m == account.MechanismAPOP {
			return true // announced by the greeting's timestamp
		}
		for _, s := range caps.SASL() {
			if strings.EqualFold(s, string(m)) {
				return true
			}
		}
		return false
	}
	mech := a.Auth.Mechanism
	if mech == "" || mech == account.MechanismAuto {
		mech = ""
		for _, m := range autoOrder {
			if len(caps) > 0 && offered(m) {
				mech = m
				break
			}
		}
		if mech == "" {
			if len(caps) > 0 && !caps.Has("USER") && len(caps.SASL()) > 0 {
				return "", fmt.Errorf("%w: no supported login mechanism among %v", ErrNotSupported, caps.SASL())
			}
			mech = account.MechanismUser
		}
	} else if !offered(mech) {
		return "", fmt.Errorf("%w: mechanism %s configured for account %s but not offered", ErrNotSupported, mech, a.ID)
	}
	user, secret := a.Auth.User, a.Auth.Secret
	if err := checkArg("user name", user); err != nil {
		return mech, err
	}
	if err := checkArg("secret", secret); err != nil {
		return mech, err
	}
	var m sasl.Client
	switch mech {
	case account.MechanismUser:
		return mech, c.Login(ctx, user, secret)
	case account.MechanismAPOP:
		return mech, c.APOP(ctx, user, secret)
	case account.MechanismPlain:
		m = sasl.NewPlainClient("", user, secret)
	case account.MechanismLogin:
		m = sasl.NewLoginClient(user, secret)
	case account.MechanismCRAMMD5:
		m = saslmech.NewCRAMMD5Client(user, secret)
	case account.MechanismSCRAMSHA1:
		m = saslmech.NewSCRAMClient("SHA-1", user, secret)
	case account.MechanismSCRAMSHA256:
		m = saslmech.NewSCRAMClient("SHA-256", user, secret)
	case account.MechanismXOAUTH2, account.MechanismOAUTHBEARER:
		tok := secret
		if d.Token != nil {
			t, err := d.Token(ctx, a)
			if err != nil {
				return mech, fmt.Errorf("pop: account %s: token: %w", a.ID, err)
			}
			tok = t
			if err := checkArg("token", tok); err != nil {
				return mech, err
			}
		}
		if mech == account.MechanismXOAUTH2 {
			m = saslmech.NewXOAUTH2Client(user, tok)
		} else {
			m = sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: tok})
		}
	case account.MechanismExternal:
		if !c.IsTLS() || a.TLS.ClientCert == "" {
			return mech, fmt.Errorf("%w (account %s)", ErrNoClientCert, a.ID)
		}
		m = sasl.NewExternalClient("")
	default:
		return mech, fmt.Errorf("pop: account %s: unknown mechanism %q", a.ID, mech)
	}
	return mech, c.Auth(ctx, m)
}

// Scan reads the scan listing of an authenticated session: STAT, LIST and,
// when offered, UIDL, checked against each other (a mismatch is an
// ErrInconsistent protocol error). Unusable unique ids are flagged in
// MessageInfo.UIDProblem; EXPIRE comes from the capabilities read after
// login, LOGIN-DELAY from those after login or else before it (see
// [Client.LoginDelay]).
func (c *Client) Scan(ctx context.Context) (Scan, error) {
	caps, err := c.Capabilities(ctx)
	if err != nil {
		return Scan{}, err
	}
	count, _, err := c.Stat(ctx)
	if err != nil {
		return Scan{}, err
	}
	list, err := c.List(ctx)
	if err != nil {
		return Scan{}, err
	}
	if len(list) != count {
		return Scan{}, c.broke(&ProtocolError{Command: "LIST", Err: ErrInconsistent,
			Detail: "STAT counts " + strconv.Itoa(count) + " messages, LIST lists " + strconv.Itoa(len(list))})
	}
	index := make(map[int]int, len(list))
	msgs := make([]MessageInfo, len(list))
	for i, e := range list {
		index[e.Number] = i
		msgs[i] = MessageInfo{Number: e.Number, Size: e.Size, UIDProblem: "missing"}
	}
	if len(caps) == 0 || caps.Has("UIDL") {
		uids, err := c.UIDL(ctx)
		var perr *Error
		switch {
		case errors.As(err, &perr):
			// No UIDL after all: every message keeps "missing".
		case err != nil:
			return Scan{}, err
		default:
			seen := make(map[string][]int, len(uids))
			for _, u := range uids {
				i, ok := index[u.Number]
				if !ok {
					return Scan{}, c.broke(&ProtocolError{Command: "UIDL", Err: ErrInconsistent,
						Detail: "message " + strconv.Itoa(u.Number) + " is not in LIST"})
				}
				msgs[i].UIDProblem = uidProblem(u.UID)
				if msgs[i].UIDProblem == "" {
					msgs[i].UID = u.UID
					seen[u.UID] = append(seen[u.UID], i)
				}
			}
			for _, is := range seen {
				if len(is) > 1 {
					for _, i := range is {
						msgs[i].UID, msgs[i].UIDProblem = "", "duplicate"
					}
				}
			}
		}
	}
	return Scan{
		Messages:   msgs,
		LoginDelay: c.LoginDelay(),
		LoggedIn:   c.login,
		Expire:     caps.Expire(),
	}, nil
}

// errNoSettle is a Defer from a Handler that is not a Settler.
var errNoSettle = errors.New("Handle returned Defer, but the Handler does not settle; message kept")

// errStopBatch stops RetrAll after a handler's ErrStop.
var errStopBatch = errors.New("pop: stop requested")

// Fetch runs one session for a: connect and log in, scan, plan (when h is a
// [Planner]; otherwise every message is retrieved in server order), RETR
// each planned message to h (pipelined when offered), settle (when h is a
// [Settler]: after the last RETR, before any DELE), DELE what h, the plan or
// Settle deleted, and QUIT to commit. It returns nil only when QUIT was
// answered +OK and every message went through; handler errors and refused
// RETR or DELE keep their message and are joined into the result. A
// protocol violation, a network error or ctx ending closes the session
// without QUIT, so nothing is deleted.
func (d *Downloader) Fetch(ctx context.Context, a account.Account, h Handler) error {
	s, _ := h.(Settler)
	c, err := d.Connect(ctx, a)
	if err != nil {
		return err
	}
	defer c.Close()
	log := d.logger().With("account", a.ID)
	scan, err := c.Scan(ctx)
	if err != nil {
		return err
	}
	log.DebugContext(ctx, "pop: listed", "messages", len(scan.Messages), "login_delay", scan.LoginDelay, "expire", scan.Expire)
	var steps []Step
	if p, ok := h.(Planner); ok {
		steps, err = p.Plan(ctx, scan)
		if err == nil {
			err = checkSteps(scan, steps)
		}
		if err != nil {
			// Nothing is marked: QUIT only releases the maildrop.
			_ = c.Quit(ctx)
			return err
		}
	} else {
		steps = make([]Step, len(scan.Messages))
		for i, m := range scan.Messages {
			steps[i] = Step{Message: m, Action: Retrieve}
		}
	}

	byNum := make(map[int]MessageInfo, len(scan.Messages))
	for _, m := range scan.Messages {
		byNum[m.Number] = m
	}
	var (
		errs      []error
		deletes   []int
		deferred  []int
		stopped   bool
		retrieved int
		octets    int64
	)
	handle := func(n int, body io.Reader) error {
		m := byNum[n]
		act, herr := h.Handle(ctx, m, body)
		retrieved++
		octets += m.Size
		if herr != nil && !errors.Is(herr, ErrStop) {
			errs = append(errs, &HandlerError{Message: m, Err: herr})
			return nil
		}
		switch {
		case act == Delete:
			deletes = append(deletes, n)
		case act == Defer && s != nil:
			deferred = append(deferred, n)
		case act == Defer:
			errs = append(errs, &HandlerError{Message: m, Err: errNoSettle})
		}
		if herr != nil {
			stopped = true
			return errStopBatch
		}
		return nil
	}
	for i := 0; i < len(steps) && !stopped; {
		switch steps[i].Action {
		case Delete:
			deletes = append(deletes, steps[i].Message.Number)
			i++
			continue
		case Retrieve:
		default:
			i++
			continue
		}
		var batch []int
		for ; i < len(steps) && steps[i].Action == Retrieve; i++ {
			batch = append(batch, steps[i].Message.Number)
		}
		rerr := c.RetrAll(ctx, batch, handle)
		if c.Err() != nil {
			return c.Err()
		}
		for _, e := range flatten(rerr) {
			if e != errStopBatch {
				errs = append(errs, e)
			}
		}
	}
	if s != nil {
		settled, serr := s.Settle(ctx)
		if serr != nil {
			errs = append(errs, serr)
		}
		for _, n := range deferred {
			if settled[n] == Delete {
				deletes = append(deletes, n)
			}
		}
	}
	if len(deletes) > 0 {
		derr := c.DeleAll(ctx, deletes)
		if c.Err() != nil {
			return c.Err()
		}
		if derr != nil {
			errs = append(errs, derr)
		}
	}
	if err := c.Quit(ctx); err != nil {
		return errors.Join(append([]error{err}, errs...)...)
	}
	log.DebugContext(ctx, "pop: committed", "retrieved", retrieved, "bytes", octets, "deleted", len(deletes), "errors", len(errs))
	return errors.Join(errs...)
}

// HandlerError is a Handler's error for one message, which was kept.
type HandlerError struct {
	Message MessageInfo
	Err     error
}

func (e *HandlerError) Error() string {
	s := "pop: message " + strconv.Itoa(e.Message.Number)
	if e.Message.UID != "" {
		s += " (uid " + strconv.Quote(e.Message.UID) + ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *HandlerError) Unwrap() error { return e.Err }

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// ErrBadPlan is returned when a Planner's steps name a message that is not
// in the scan listing, or one message twice; nothing was retrieved or
// deleted.
var ErrBadPlan = errors.New("pop: bad plan")

func checkSteps(scan Scan, steps []Step) error {
	known := make(map[int]MessageInfo, len(scan.Messages))
	for _, m := range scan.Messages {
		known[m.Number] = m
	}
	seen := make(map[int]bool, len(steps))
	for _, s := range steps {
		m, ok := known[s.Message.Number]
		if !ok || m.UID != s.Message.UID {
			return fmt.Errorf("%w: message %d is not in the scan listing", ErrBadPlan, s.Message.Number)
		}
		if seen[m.Number] {
			return fmt.Errorf("%w: message %d planned twice", ErrBadPlan, m.Number)
		}
		seen[m.Number] = true
		switch s.Action {
		case Keep, Delete, Retrieve:
		default:
			return fmt.Errorf("%w: message %d: unknown action %v", ErrBadPlan, m.Number, s.Action)
		}
	}
	return nil
}
