package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/multidrop/multidrop/internal/spool"
)

// ErrNoRoute is the cause of the permanent failure [Route] reports for a
// recipient it has no Deliverer for.
var ErrNoRoute = errors.New("deliver: no route for recipient")

// RouteOptions configures a Route. The lookups are tried in order: Select,
// Addresses, Domains, Default; the first Deliverer found is used.
type RouteOptions struct {
	// Select returns the Deliverer for a recipient, or nil to fall through
	// to the maps. The recipients given one Deliverer go to it in one call
	// when its type is comparable (a pointer, as every Deliverer of this
	// package); a Func, which cannot be compared, gets one call per
	// recipient.
	Select func(rcpt string) Deliverer
	// Addresses maps a whole address to its Deliverer. Keys are compared
	// without regard to ASCII case.
	Addresses map[string]Deliverer
	// Domains maps a domain (the part after the last @) to its Deliverer,
	// compared without regard to ASCII case.
	Domains map[string]Deliverer
	// Default receives the recipients nothing else matched; nil means they
	// fail permanently with [ErrNoRoute].
	Default Deliverer
	// SpoolDir is where a message that is not an io.ReaderAt with an
	// io.Seeker or a Size method, and must go to more than one Deliverer,
	// is spooled when larger than 1 MiB; "" means os.TempDir().
	SpoolDir string
}

// Route delivers each recipient through the Deliverer chosen for it: for
// example some users to local Maildirs and the others over LMTP. The
// recipients of one Deliverer go to it in one call, in envelope order; the
// groups are delivered one after another, each reading the message from its
// start. The results are merged in envelope order.
type Route struct {
	opts RouteOptions
}

var _ Deliverer = (*Route)(nil)

// NewRoute returns a Route. The maps are copied.
func NewRoute(opts *RouteOptions) *Route {
	r := &Route{}
	if opts != nil {
		r.opts = *opts
	}
	r.opts.Addresses = lowerKeys(r.opts.Addresses)
	r.opts.Domains = lowerKeys(r.opts.Domains)
	return r
}

func lowerKeys(m map[string]Deliverer) map[string]Deliverer {
	if m == nil {
		return nil
	}
	c := make(map[string]Deliverer, len(m))
	for k, v := range m {
		c[strings.ToLower(k)] = v
	}
	return c
}

// routeKey identifies a group of recipients delivered in one call: the
// Deliverer itself when it can be compared, else where it was found (a
// Func cannot be compared: the recipients Select gives one are delivered
// one call each).
type routeKey struct {
	d   Deliverer
	src string
}

// lookup returns the Deliverer for rcpt (nil when there is none) and the
// key of its group.
func (r *Route) lookup(rcpt string) (Deliverer, routeKey) {
	key := func(d Deliverer, src string) (Deliverer, routeKey) {
		if reflect.TypeOf(d).Comparable() {
			return d, routeKey{d: d}
		}
		return d, routeKey{src: src}
	}
	if r.opts.Select != nil {
		if d := r.opts.Select(rcpt); d != nil {
			return key(d, "select\x00"+rcpt)
		}
	}
	l := strings.ToLower(rcpt)
	if d := r.opts.Addresses[l]; d != nil {
		return key(d, "address\x00"+l)
	}
	if at := strings.LastIndexByte(l, '@'); at >= 0 {
		if d := r.opts.Domains[l[at+1:]]; d != nil {
			return key(d, "domain\x00"+l[at+1:])
		}
	}
	if r.opts.Default == nil {
		return nil, routeKey{}
	}
	return key(r.opts.Default, "default")
}

type routeGroup struct {
	d    Deliverer
	idx  []int // indexes into env.To
	rcpt []string
}

// Deliver implements Deliverer. Recipients without a route fail
// permanently with ErrNoRoute; a group whose Deliverer fails as a whole
// leaves its recipients temporary (or as the Deliverer's partial results
// say), and the other groups still go ahead. The error joins the groups'
// errors.
func (r *Route) Deliver(ctx context.Context, env Envelope, msg io.Reader) (Results, error) {
	res := make(Results, len(env.To))
	var groups []*routeGroup
	byKey := map[routeKey]*routeGroup{}
	for i, rcpt := range env.To {
		res[i] = Result{Recipient: rcpt, Status: Temporary}
		d, k := r.lookup(rcpt)
		if d == nil {
			res[i].Status = Permanent
			res[i].Err = &Error{Code: 550, Enhanced: "5.1.1", Message: fmt.Sprintf("no route for <%s>", rcpt), Perm: true, Err: ErrNoRoute}
			continue
		}
		g := byKey[k]
		if g == nil {
			g = &routeGroup{d: d}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
		g.rcpt = append(g.rcpt, rcpt)
	}
	if len(groups) == 0 {
		return res, nil
	}
	rr, err := newRereader(msg, len(groups) > 1, r.opts.SpoolDir)
	if err != nil {
		for _, g := range groups {
			for _, i := range g.idx {
				res[i].Err = err
			}
		}
		return res, err
	}
	defer rr.Close()

	var errs []error
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			for _, i := range g.idx {
				res[i].Err = err
			}
			errs = append(errs, err)
			continue
		}
		genv := env
		genv.To = g.rcpt
		gres, err := g.d.Deliver(ctx, genv, rr.Reader())
		if err != nil {
			errs = append(errs, err)
		}
		mergeResults(res, g.idx, env.To, gres, err)
	}
	return res, errors.Join(errs...)
}

// mergeResults copies a group's results into res at the group's indexes,
// matching by recipient (each result used once, so repeated recipients
// match in order). A recipient without a result is temporary, with the
// call's error when there was one.
func mergeResults(res Results, idx []int, to []string, gres Results, callErr error) {
	used := make([]bool, len(gres))
	for _, i := range idx {
		found := false
		for j, gr := range gres {
			if !used[j] && gr.Recipient == to[i] {
				used[j] = true
				res[i] = gr
				found = true
				break
			}
		}
		if !found {
			e := callErr
			if e == nil {
				e = &Error{Message: fmt.Sprintf("no result for <%s>", to[i])}
			}
			res[i] = Result{Recipient: to[i], Status: Temporary, Err: e}
		}
		if res[i].Status == Permanent && res[i].Err == nil {
			res[i].Err = Permanentf("refused <%s>", to[i])
		}
		if res[i].Status == Temporary && res[i].Err == nil {
			res[i].Err = &Error{Message: fmt.Sprintf("not delivered to <%s>", to[i])}
		}
	}
}

// rereader gives readers of a message from the position it had when the
// rereader was made, as many times as needed: over the message itself when
// it can be read at an offset, else over a spool of it.
type rereader struct {
	msg   io.Reader // the message when it is read only once
	ra    io.ReaderAt
	start int64
	size  int64
	sp    *spool.Spool
	used  bool
}

type sizer interface{ Size() int64 }

// newRereader prepares msg for reading again. When many is false the
// message is read once and never copied.
func newRereader(msg io.Reader, many bool, spoolDir string) (*rereader, error) {
	if ra, ok := msg.(io.ReaderAt); ok {
		if start, size, ok := readerBounds(msg); ok {
			return &rereader{ra: ra, start: start, size: size}, nil
		}
	}
	if !many {
		return &rereader{msg: msg}, nil
	}
	sp, err := spool.Read(msg, &spool.Options{Dir: spoolDir})
	if err != nil {
		return nil, &Error{Message: "spooling the message", Err: err}
	}
	return &rereader{ra: sp, size: sp.Size(), sp: sp}, nil
}

// readerBounds returns where msg is now and how many bytes remain in it,
// for an io.ReaderAt that also has io.Seeker or a Size method.
func readerBounds(msg io.Reader) (start, size int64, ok bool) {
	s, isSeeker := msg.(io.Seeker)
	if isSeeker {
		cur, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, 0, false
		}
		start = cur
	}
	if z, isSizer := msg.(sizer); isSizer {
		return start, z.Size() - start, z.Size() >= start
	}
	if !isSeeker {
		return 0, 0, false
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, 0, false
	}
	if _, err := s.Seek(start, io.SeekStart); err != nil {
		return 0, 0, false
	}
	return start, end - start, end >= start
}

// Reader returns a reader of the whole message.
func (r *rereader) Reader() io.Reader {
	if r.ra == nil {
		if r.used {
			return errReader{&Error{Message: "message cannot be read twice"}}
		}
		r.used = true
		return r.msg
	}
	return io.NewSectionReader(r.ra, r.start, r.size)
}

// Close removes the spool, if one was made.
func (r *rereader) Close() error {
	if r.sp != nil {
		return r.sp.Close()
	}
	return nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
