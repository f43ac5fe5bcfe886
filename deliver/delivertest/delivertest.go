// Package delivertest provides a recording, fault-injecting
// [deliver.Deliverer] for tests: ours and those of embedders who want to see
// what the pipeline delivered, or to make a delivery fail in a chosen way
// (a temporary or permanent refusal of one recipient, a slow server, a
// connection lost part-way through the message, a failure of the whole
// call).
//
// # Use
//
// The zero [Deliverer] accepts every recipient and records each call. Faults
// are set per recipient with [Deliverer.Fail] and for the whole call with
// [Deliverer.FailCall]; each may apply a limited number of times, so "fail
// once, then succeed" is one line. All methods are safe for concurrent use.
//
// [Corpus] generates reproducible test messages of chosen sizes without
// holding them in memory, for benchmarks of deliverers.
package delivertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/multidrop/multidrop/deliver"
)

// Fault is a failure to inject.
type Fault struct {
	// Status is Temporary (the zero value) or Permanent. Delivered means
	// no failure: only Delay (and AfterBytes) take effect.
	Status deliver.Status
	// Err is the error reported; nil means a *deliver.Error that says
	// which fault it is (with code 451 or 550).
	Err error
	// Delay is waited before answering. When the context ends first, the
	// call returns its error and every recipient is temporary.
	Delay time.Duration
	// AfterBytes makes the fault depend on the message size. In a call
	// fault, the message is read up to AfterBytes bytes and the call then
	// fails as if the connection was lost; in a recipient fault, the fault
	// applies only to messages longer than AfterBytes (a quota). 0 means
	// always.
	AfterBytes int64
	// Times is how many deliveries the fault applies to before it goes
	// away; 0 means every delivery.
	Times int
}

// Delivery is one recorded call of Deliver.
type Delivery struct {
	Envelope deliver.Envelope
	Data     []byte          // the message as read (up to a call fault's AfterBytes)
	Time     time.Time       // when the call started
	Results  deliver.Results // what the call returned
	Err      error           // the call's error
}

// Deliverer records deliveries and injects faults. The zero value delivers
// everything.
type Deliverer struct {
	// Now returns the time recorded for a delivery; nil means time.Now.
	// Set it before the first call.
	Now func() time.Time

	mu         sync.Mutex
	faults     map[string]*Fault
	callFault  *Fault
	deliveries []Delivery
}

var _ deliver.Deliverer = (*Deliverer)(nil)

// Fail sets the fault injected for rcpt (compared exactly), replacing any
// earlier one.
func (d *Deliverer) Fail(rcpt string, f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.faults == nil {
		d.faults = map[string]*Fault{}
	}
	d.faults[rcpt] = &f
}

// FailCall sets the fault injected into whole calls: with a Status other
// than Delivered the call returns an error and no recipient is delivered.
func (d *Deliverer) FailCall(f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.callFault = &f
}

// Clear removes every fault.
func (d *Deliverer) Clear() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults = nil
	d.callFault = nil
}

// Deliveries returns the recorded calls in order.
func (d *Deliverer) Deliveries() []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.deliveries)
}

// Delivered returns the messages delivered to rcpt (status Delivered), in
// order.
func (d *Deliverer) Delivered(rcpt string) [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out [][]byte
	for _, dl := range d.deliveries {
		for _, r := range dl.Results {
			if r.Recipient == rcpt && r.Status == deliver.Delivered {
				out = append(out, dl.Data)
			}
		}
	}
	return out
}

// Calls returns the number of calls of Deliver so far.
func (d *Deliverer) Calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.deliveries)
}

// Reset forgets the recorded deliveries (the faults stay).
func (d *Deliverer) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deliveries = nil
}

// take returns a copy of f and uses up one of its Times; nil when f is nil
// or used up.
func take(f *Fault) *Fault {
	if f == nil {
		return nil
	}
	c := *f
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			f.Times = -1 // used up
		}
	} else if f.Times < 0 {
		return nil
	}
	return &c
}

// Deliver implements deliver.Deliverer.
func (d *Deliverer) Deliver(ctx context.Context, env deliver.Envelope, msg io.Reader) (deliver.Results, error) {
	d.mu.Lock()
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	start := now()
	call := take(d.callFault)
	d.mu.Unlock()

	env.To = slices.Clone(env.To)
	rec := Delivery{Envelope: env, Time: start}
	res, err := d.deliver(ctx, env, msg, call, &rec)
	rec.Results, rec.Err = slices.Clone(res), err
	d.mu.Lock()
	d.deliveries = append(d.deliveries, rec)
	d.mu.Unlock()
	return res, err
}

func (d *Deliverer) deliver(ctx context.Context, env deliver.Envelope, msg io.Reader, call *Fault, rec *Delivery) (deliver.Results, error) {
	res := make(deliver.Results, len(env.To))
	for i, r := range env.To {
		res[i] = deliver.Result{Recipient: r, Status: deliver.Temporary}
	}
	failAll := func(err error) (deliver.Results, error) {
		for i := range res {
			res[i].Err = err
		}
		return res, err
	}

	// Read the message (or the part a call fault lets through).
	var err error
	if call != nil && call.AfterBytes > 0 {
		rec.Data, err = io.ReadAll(io.LimitReader(msg, call.AfterBytes))
		if err == nil {
			err = fmt.Errorf("delivertest: connection lost after %d bytes", len(rec.Data))
			if call.Err != nil {
				err = call.Err
			}
		}
		return failAll(err)
	}
	if rec.Data, err = io.ReadAll(msg); err != nil {
		return failAll(fmt.Errorf("delivertest: reading the message: %w", err))
	}
	if call != nil {
		if err := wait(ctx, call.Delay); err != nil {
			return failAll(err)
		}
		if call.Status != deliver.Delivered {
			return failAll(faultError(call, "the call"))
		}
	}

	d.mu.Lock()
	faults := make([]*Fault, len(env.To))
	for i, r := range env.To {
		f := d.faults[r]
		if f != nil && f.AfterBytes > 0 && int64(len(rec.Data)) <= f.AfterBytes {
			continue // under the quota
		}
		faults[i] = take(f)
	}
	d.mu.Unlock()

	for i, f := range faults {
		if f != nil && f.Delay > 0 {
			if err := wait(ctx, f.Delay); err != nil {
				return failAll(err)
			}
		}
		switch {
		case f == nil || f.Status == deliver.Delivered:
			res[i].Status = deliver.Delivered
		case f.Status == deliver.Permanent:
			res[i].Status = deliver.Permanent
			res[i].Err = faultError(f, "<"+env.To[i]+">")
		default:
			res[i].Err = faultError(f, "<"+env.To[i]+">")
		}
	}
	return res, nil
}

func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func faultError(f *Fault, what string) error {
	if f.Err != nil {
		if f.Status == deliver.Permanent {
			var de *deliver.Error
			if !errors.As(f.Err, &de) {
				// Only a *deliver.Error marks a failure permanent.
				return &deliver.Error{Code: 550, Message: "delivertest: injected permanent failure for " + what, Perm: true, Err: f.Err}
			}
		}
		return f.Err
	}
	if f.Status == deliver.Permanent {
		return &deliver.Error{Code: 550, Enhanced: "5.0.0", Message: "delivertest: injected permanent failure for " + what, Perm: true}
	}
	return &deliver.Error{Code: 451, Enhanced: "4.0.0", Message: "delivertest: injected temporary failure for " + what}
}
