// Package spool holds one message so that it can be read again from the
// start any number of times: in memory up to a threshold, then in a temporary
// file. The pipeline reads a message once from the network and may deliver it
// several times (one Route group after another, a retry, a fan-out).
//
// # Ownership
//
// A Spool has one owner, who writes it, hands out readers and finally calls
// Close, which frees the memory and removes the file. Readers obtained from
// [Spool.Reader] are independent of each other and may be used from several
// goroutines once writing is finished; writing and reading must not overlap.
//
// # Bounds
//
// Memory use is bounded by the threshold plus one write buffer, whatever the
// size of the message. The temporary file is unlinked as soon as it is created
// where the operating system allows it, so a crash leaves nothing behind.
// A size cap ([Options].MaxSize) makes writes fail with a [*TooLargeError].
package spool

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"
)

// DefaultThreshold is the number of bytes kept in memory before a spool moves
// to a temporary file.
const DefaultThreshold = 1 << 20

// bufSize is the size of the write buffer in front of the temporary file.
const bufSize = 64 << 10

// Options configures a Spool. A nil *Options means all defaults.
type Options struct {
	// Threshold is the number of bytes kept in memory; larger messages go to
	// a temporary file. 0 means DefaultThreshold; a negative value sends
	// every message to a file.
	Threshold int64
	// Dir is the directory for temporary files; "" means os.TempDir().
	Dir string
	// MaxSize is the largest message accepted, in bytes; 0 means no limit.
	MaxSize int64
	// SizeHint is the expected size of the message (a POP3 scan listing's),
	// or 0: the memory is then taken at once instead of growing, and a
	// message announced larger than Threshold goes to the file from its
	// first byte (no memory buffer filled and copied first). A wrong hint
	// costs time, never correctness.
	SizeHint int64
}

// TooLargeError reports a message larger than Options.MaxSize.
type TooLargeError struct {
	Max int64 // the limit that was exceeded
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("spool: message larger than %d bytes", e.Max)
}

// ErrClosed is returned by operations on a closed Spool.
var ErrClosed = errors.New("spool: closed")

// Spool is a message held for re-reading. The zero value is not usable; call
// New or Read.
type Spool struct {
	threshold int64
	dir       string
	max       int64
	hint      int64

	mu      sync.Mutex
	mem     []byte   // the message while it is in memory
	f       *os.File // the temporary file, once spilled
	name    string   // file name still to remove on Close ("" when unlinked)
	wbuf    []byte   // pending bytes not yet written to f
	size    int64    // bytes written so far (memory or file, buffered included)
	err     error    // sticky write error
	closed  bool
	spilled bool
}

// New returns an empty Spool ready for writing.
func New(opts *Options) *Spool {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.Threshold < 0 {
		o.Threshold = 0
	}
	return &Spool{threshold: o.Threshold, dir: o.Dir, max: o.MaxSize, hint: max(o.SizeHint, 0)}
}

// Read spools all of r. On error the partial spool is removed and the error
// returned (a [*TooLargeError] when r exceeds MaxSize).
func Read(r io.Reader, opts *Options) (*Spool, error) {
	s := New(opts)
	if _, err := s.ReadFrom(r); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Write appends p to the spool. After a failed write (the size cap, a full
// disk) every later write fails with the same error.
func (s *Spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(p)
}

func (s *Spool) write(p []byte) (int, error) {
	if s.closed {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	n := len(p)
	if s.max > 0 && s.size+int64(n) > s.max {
		n = int(s.max - s.size)
		s.err = &TooLargeError{Max: s.max}
	}
	written, err := s.append(p[:n])
	if err != nil {
		s.err = err
		return written, err
	}
	return written, s.err
}

// append stores p, spilling to the file when the threshold is crossed.
func (s *Spool) append(p []byte) (int, error) {
	if err := s.spillEarly(); err != nil {
		return 0, err
	}
	if !s.spilled && s.size+int64(len(p)) <= s.threshold {
		s.reserve(len(p))
		s.mem = append(s.mem, p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if !s.spilled {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	n := 0
	for len(p) > 0 {
		if len(s.wbuf) == 0 && len(p) >= bufSize {
			// Large writes go straight to the file.
			m, err := s.f.Write(p)
			n += m
			s.size += int64(m)
			if err != nil {
				return n, fmt.Errorf("spool: %w", err)
			}
			return n, nil
		}
		c := copy(s.wbuf[len(s.wbuf):cap(s.wbuf)], p)
		s.wbuf = s.wbuf[:len(s.wbuf)+c]
		p = p[c:]
		n += c
		s.size += int64(c)
		if len(s.wbuf) == cap(s.wbuf) {
			if err := s.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// reserve makes room in memory for n more bytes, the total being within
// the threshold: the size hint at first, then doubling up to the threshold
// (append's gentler growth for large slices would allocate several times
// the threshold). Buffers come from, and go back to, a pool.
func (s *Spool) reserve(n int) {
	need := len(s.mem) + n
	if need <= cap(s.mem) {
		return
	}
	c := max(2*cap(s.mem), need, minBuf)
	if s.mem == nil && s.hint >= int64(need) {
		c = int(min(s.hint+1, s.threshold)) // +1: EOF needs room to be seen
	}
	c = max(min(c, int(s.threshold)), need)
	m := getBuf(c)[:len(s.mem)]
	copy(m, s.mem)
	putBuf(s.mem)
	s.mem = m
}

// spillEarly spills an empty spool whose size hint is over the threshold:
// the message will not fit in memory.
func (s *Spool) spillEarly() error {
	if s.spilled || s.size > 0 || s.hint <= s.threshold {
		return nil
	}
	return s.spill()
}

// spill moves the in-memory bytes to a new temporary file.
func (s *Spool) spill() error {
	f, err := os.CreateTemp(s.dir, "multidrop-spool-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	// Unlink at once where open files may be removed (Unix); elsewhere
	// remove on Close.
	if os.Remove(f.Name()) != nil {
		s.name = f.Name()
	}
	s.f = f
	s.spilled = true
	s.wbuf = getBuf(bufSize)
	if len(s.mem) > 0 {
		if _, err := f.Write(s.mem); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	putBuf(s.mem)
	s.mem = nil
	return nil
}

func (s *Spool) flush() error {
	if len(s.wbuf) == 0 {
		return nil
	}
	_, err := s.f.Write(s.wbuf)
	s.wbuf = s.wbuf[:0]
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// ReadFrom spools everything r yields until EOF. It returns the number of
// bytes read from r.
func (s *Spool) ReadFrom(r io.Reader) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	if err := s.spillEarly(); err != nil {
		s.err = err
		return 0, err
	}
	var total int64
	var buf []byte
	defer func() { putBuf(buf) }()
	for {
		// Read straight into the spool's memory (up to the threshold) or,
		// once spilled, into its write buffer; a message at the threshold
		// exactly goes through buf, and write spills it if more comes.
		var dst *[]byte
		room := int64(-1) // no limit but the buffer's
		switch {
		case s.spilled:
			if len(s.wbuf) == cap(s.wbuf) {
				if err := s.flush(); err != nil {
					s.err = err
					return total, err
				}
			}
			dst = &s.wbuf
		case s.size < s.threshold:
			if len(s.mem) == cap(s.mem) {
				s.reserve(int(min(s.threshold-s.size, readChunk)))
			}
			dst, room = &s.mem, s.threshold-s.size
		}
		if dst == nil {
			if buf == nil {
				buf = getBuf(readChunk)[:readChunk]
			}
			n, rerr := r.Read(buf)
			total += int64(n)
			if n > 0 {
				if _, err := s.write(buf[:n]); err != nil {
					return total, err
				}
			}
			if rerr != nil {
				return total, eofIsNil(rerr)
			}
			continue
		}
		free := (*dst)[len(*dst):cap(*dst)]
		if room >= 0 && int64(len(free)) > room {
			free = free[:room]
		}
		if s.max > 0 && int64(len(free)) > s.max-s.size+1 {
			free = free[:s.max-s.size+1] // one byte past the cap shows it exceeded
		}
		n, rerr := r.Read(free)
		total += int64(n)
		if n > 0 {
			if s.max > 0 && s.size+int64(n) > s.max {
				s.err = &TooLargeError{Max: s.max}
				return total, s.err
			}
			*dst = (*dst)[:len(*dst)+n]
			s.size += int64(n)
		}
		if rerr != nil {
			return total, eofIsNil(rerr)
		}
	}
}

// eofIsNil maps io.EOF, the end of a ReadFrom, to nil.
func eofIsNil(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// Size returns the number of bytes written.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// ReadAt implements io.ReaderAt over the bytes written so far.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	if off < 0 {
		s.mu.Unlock()
		return 0, errors.New("spool: negative offset")
	}
	if !s.spilled {
		defer s.mu.Unlock()
		if off >= int64(len(s.mem)) {
			return 0, io.EOF
		}
		n := copy(p, s.mem[off:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	if err := s.flush(); err != nil {
		s.err = err
		s.mu.Unlock()
		return 0, err
	}
	f, size := s.f, s.size
	s.mu.Unlock()
	if off >= size {
		return 0, io.EOF
	}
	if rem := size - off; int64(len(p)) > rem {
		n, err := f.ReadAt(p[:rem], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return f.ReadAt(p, off)
}

// WriteRangeTo writes n bytes from offset off to w: from memory without a
// copy, or from the file through a pooled buffer. It fails with
// io.ErrUnexpectedEOF when the spool holds fewer bytes. w must not use the
// spool: it is locked while w writes from its memory.
func (s *Spool) WriteRangeTo(w io.Writer, off, n int64) (int64, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	if off < 0 || n < 0 || off+n > s.size {
		s.mu.Unlock()
		return 0, io.ErrUnexpectedEOF
	}
	if !s.spilled {
		defer s.mu.Unlock()
		m, err := w.Write(s.mem[off : off+n])
		return int64(m), err
	}
	s.mu.Unlock()
	buf := getBuf(readChunk)[:readChunk]
	defer putBuf(buf)
	return io.CopyBuffer(onlyWriter{w}, io.NewSectionReader(s, off, n), buf)
}

// onlyWriter hides a ReadFrom method, so that io.CopyBuffer uses the buffer.
type onlyWriter struct{ io.Writer }

// Reader returns a new reader of the whole message from its start. Each call
// returns an independent reader; it also implements io.ReaderAt and
// io.Seeker.
func (s *Spool) Reader() *io.SectionReader {
	return io.NewSectionReader(s, 0, s.Size())
}

// Close frees the memory and removes the temporary file. It is safe to call
// more than once; readers fail with ErrClosed afterwards.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	putBuf(s.mem)
	putBuf(s.wbuf)
	s.mem = nil
	s.wbuf = nil
	var err error
	if s.f != nil {
		err = s.f.Close()
		if s.name != "" {
			if rerr := os.Remove(s.name); rerr != nil && err == nil {
				err = rerr
			}
		}
		s.f = nil
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// InMemory reports whether the message is still held in memory.
func (s *Spool) InMemory() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.spilled
}

// readChunk is the most ReadFrom asks of its reader at once.
const readChunk = 32 << 10

// Memory buffers are pooled by power-of-two capacity, from minBuf to
// maxPooled, up to poolBytes in all: a check spools message after message,
// and reusing their buffers saves the allocation, the zeroing and the
// garbage collection of most bytes downloaded, while what the pool keeps
// stays bounded (a sync.Pool would keep any number until the next
// collections). poolBytes is four buffers of the Pipeline's default
// in-memory threshold (256 KiB): the pool's bytes are live heap, which the
// garbage collector's goal multiplies, and in scripts/bench-pipeline's
// corpus run 4 MiB cost 3-5 MiB of peak RSS for no measurable CPU time,
// 2 MiB about 1 MiB more than 1 MiB.
const (
	minShift  = 12 // 4 KiB
	maxShift  = 22 // 4 MiB
	minBuf    = 1 << minShift
	maxPooled = 1 << maxShift
	poolBytes = 1 << 20
)

var pool struct {
	mu    sync.Mutex
	free  [maxShift - minShift + 1][][]byte
	bytes int
}

// getBuf returns an empty buffer of capacity at least n.
func getBuf(n int) []byte {
	if n > maxPooled {
		return make([]byte, 0, n)
	}
	shift := max(bits.Len(uint(n-1)), minShift)
	pool.mu.Lock()
	if f := pool.free[shift-minShift]; len(f) > 0 {
		b := f[len(f)-1]
		f[len(f)-1] = nil
		pool.free[shift-minShift] = f[:len(f)-1]
		pool.bytes -= cap(b)
		pool.mu.Unlock()
		return b
	}
	pool.mu.Unlock()
	return make([]byte, 0, 1<<shift)
}

// putBuf returns a buffer from getBuf to the pool, when it has room.
func putBuf(b []byte) {
	c := cap(b)
	if c < minBuf || c > maxPooled || c&(c-1) != 0 {
		return
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.bytes+c > poolBytes {
		return
	}
	i := bits.Len(uint(c)) - 1 - minShift
	pool.free[i] = append(pool.free[i], b[:0])
	pool.bytes += c
}
