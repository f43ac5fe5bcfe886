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
// Memory use is bounded by the threshold plus one chunk (32 KiB), whatever the
// size of the message. The temporary file is unlinked as soon as it is created
// where the operating system allows it, so a crash leaves nothing behind.
// A size cap ([Options].MaxSize) makes writes fail with a [*TooLargeError].
package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// DefaultThreshold is the number of bytes kept in memory before a spool moves
// to a temporary file.
const DefaultThreshold = 1 << 20

// bufSize is the size of the write buffer in front of the temporary file.
const bufSize = chunkSize

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
	// or 0: a message announced larger than Threshold goes to the file
	// from its first byte (no memory filled and copied first). A wrong hint
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
	mem     [][]byte // the message while it is in memory: full chunks, the last one filling
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
		n := len(p)
		for len(p) > 0 {
			last := s.room()
			c := copy(last[len(last):cap(last)], p)
			s.mem[len(s.mem)-1] = last[:len(last)+c]
			p = p[c:]
		}
		s.size += int64(n)
		return n, nil
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

// room returns the last chunk of memory, a new one when the last is full.
func (s *Spool) room() []byte {
	if n := len(s.mem); n > 0 && len(s.mem[n-1]) < cap(s.mem[n-1]) {
		return s.mem[n-1]
	}
	s.mem = append(s.mem, getChunk())
	return s.mem[len(s.mem)-1]
}

// release gives the memory chunks back to the pool.
func (s *Spool) release() {
	for i, c := range s.mem {
		putChunk(c)
		s.mem[i] = nil
	}
	s.mem = nil
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
	s.wbuf = getChunk()
	for _, c := range s.mem {
		if _, err := f.Write(c); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	s.release()
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
	defer func() { putChunk(buf) }()
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
			s.room()
			dst, room = &s.mem[len(s.mem)-1], s.threshold-s.size
		}
		if dst == nil {
			if buf == nil {
				buf = getChunk()[:chunkSize]
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
		if off >= s.size {
			return 0, io.EOF
		}
		n := 0
		for i := off / chunkSize; n < len(p) && i < int64(len(s.mem)); i++ {
			n += copy(p[n:], s.mem[i][off+int64(n)-i*chunkSize:])
		}
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
		var total int64
		for i := off / chunkSize; total < n; i++ {
			c := s.mem[i][off+total-i*chunkSize:]
			c = c[:min(int64(len(c)), n-total)]
			m, err := w.Write(c)
			total += int64(m)
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
	s.mu.Unlock()
	buf := getChunk()[:chunkSize]
	defer putChunk(buf)
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
	s.release()
	putChunk(s.wbuf)
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

// Memory is held in chunks of chunkSize, from a pool of idle chunks that
// keeps at most poolBytes: a check spools message after message, and
// reusing their chunks saves the allocation, the zeroing and the garbage
// collection of most bytes downloaded, whatever the sizes of the messages
// (chunks of one size serve any message), while what the pool keeps stays
// bounded (a sync.Pool would keep any number until the next collections).
// poolBytes is two messages of the Pipeline's default in-memory threshold
// (256 KiB), 16 chunks: the pool's bytes are live heap, which the garbage
// collector's goal multiplies (in scripts/bench-pipeline's corpus run,
// multidropd peaked at 32.0 MiB with 1 MiB, 30.8-31.0 MiB with 512 KiB, at
// the same CPU time). A chunk is also the most ReadFrom asks of its reader at
// once, and the write buffer in front of a temporary file.
const (
	chunkSize = 32 << 10
	poolBytes = 512 << 10
)

var pool struct {
	mu   sync.Mutex
	free [][]byte
}

// getChunk returns an empty chunk.
func getChunk() []byte {
	pool.mu.Lock()
	if n := len(pool.free); n > 0 {
		c := pool.free[n-1]
		pool.free[n-1] = nil
		pool.free = pool.free[:n-1]
		pool.mu.Unlock()
		return c
	}
	pool.mu.Unlock()
	return make([]byte, 0, chunkSize)
}

// putChunk returns a chunk from getChunk to the pool, when it has room.
func putChunk(c []byte) {
	if cap(c) != chunkSize {
		return
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if (len(pool.free)+1)*chunkSize > poolBytes {
		return
	}
	pool.free = append(pool.free, c[:0])
}
