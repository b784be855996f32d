package bridge

import (
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A readStream with outputPath (extension) appends body bytes to that file
// instead of returning them, and answers with the count
// (StreamChunk.Written). It keeps appending as the body arrives until
// maxBytes are written (0: no limit), the body ends or timeoutMs passes:
// the caller needs no bytes, so a round trip per chunk would only stall
// the pump while the answer travels. The caller creates the file (and may have
// written a first part of the body to it, such as requestStream's
// prefetched bytes); the stream keeps it open from the first such read
// until the body ends, fails or is cancelled. Writing here, in the reading
// goroutine, overlaps disk writes with the pump's network reads and keeps
// the bytes out of the caller's memory (docs/abi.rst, "Body to a file").

// streamOutput is the file a stream's reads append to.
type streamOutput struct {
	mu     sync.Mutex
	path   string
	file   *os.File
	closed bool // the stream ended: no more writes
}

// fillWriteBytes is how much a fill gathers before writing: fewer, larger
// writes (16 KiB writes took 2.75 s per GiB here, 512 KiB ones 0.49 s).
const fillWriteBytes = 1 << 20

// fill appends the stream's body to in.OutputPath until in.MaxBytes are
// written (0: no limit), the timeout passes or the body ends. It returns
// the terminal event when the body ended (or failed, or the call was
// cancelled) before anything was written, got false when the timeout
// passed with nothing written, and the count written otherwise; an end
// met after some bytes is kept for the next read. The caller holds readMu.
func (s *stream) fill(in readStreamInput) (ev streamEvent, got bool, written int, err error) {
	deadline := time.Now().Add(time.Duration(in.TimeoutMs) * time.Millisecond)
	var held [][]byte // gathered, not yet written
	heldBytes := 0
	flush := func() error {
		if heldBytes == 0 {
			return nil
		}
		n, err := s.output.write(in.OutputPath, held)
		written += n
		held, heldBytes = held[:0], 0
		return err
	}
	for in.MaxBytes <= 0 || written+heldBytes < in.MaxBytes {
		timeout := in.TimeoutMs
		if timeout > 0 {
			timeout = max(int(time.Until(deadline)/time.Millisecond), 0)
		}
		if timeout == 0 && written+heldBytes > 0 {
			break // time is up (or a poll took what was buffered)
		}
		next, ok := s.next(timeout)
		if !ok {
			break
		}
		if next.terminal() {
			if written+heldBytes == 0 {
				return next, true, 0, nil
			}
			s.pending = &next
			break
		}
		limit := fillWriteBytes - heldBytes
		if in.MaxBytes > 0 {
			limit = min(limit, in.MaxBytes-written-heldBytes)
		}
		for _, p := range s.gather(next.data, limit) {
			held = append(held, p)
			heldBytes += len(p)
		}
		if heldBytes >= fillWriteBytes {
			if err := flush(); err != nil {
				return streamEvent{}, true, written, err
			}
		}
	}
	if err := flush(); err != nil {
		return streamEvent{}, true, written, err
	}
	return streamEvent{}, written > 0, written, nil
}

// write appends pieces to the file at path, opening it on first use.
func (o *streamOutput) write(path string, pieces [][]byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
		return 0, errCancelled
	case o.file == nil:
		// O_APPEND without O_CREATE: the caller made the file and owns
		// what is already in it.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return 0, newError(CodeFile, err.Error())
		}
		o.path, o.file = path, f
	case o.path != path:
		return 0, newError(CodeInvalidInput, "outputPath "+path+" differs from this stream's "+o.path)
	}
	n, err := writePieces(o.file, pieces)
	if err != nil {
		return n, newError(CodeFile, err.Error())
	}
	return n, nil
}

// writePieces appends pieces with writev: one syscall for a fill's pieces,
// which are often single TLS records (16 KiB; a write per record cost 5x
// the time of 512 KiB writes here), without first joining them (a copy
// of every byte; docs/abi.rst, "Body to a file").
func writePieces(f *os.File, pieces [][]byte) (int, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	const maxIovecs = 1024 // IOV_MAX on Linux
	total := 0
	for len(pieces) > 0 {
		var n int
		var writeErr error
		if err := raw.Write(func(fd uintptr) bool {
			n, writeErr = unix.Writev(int(fd), pieces[:min(len(pieces), maxIovecs)])
			return writeErr != unix.EAGAIN
		}); err != nil {
			return total, err
		}
		switch {
		case writeErr == unix.EINTR:
			continue
		case writeErr != nil:
			return total, &os.PathError{Op: "writev", Path: f.Name(), Err: writeErr}
		case n == 0:
			return total, io.ErrShortWrite
		}
		total += n
		for n > 0 {
			if n < len(pieces[0]) {
				pieces[0] = pieces[0][n:]
				break
			}
			n -= len(pieces[0])
			pieces = pieces[1:]
		}
	}
	return total, nil
}

// close ends writing; the error is the file's close error, if any.
func (o *streamOutput) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.file == nil {
		return nil
	}
	err := o.file.Close()
	o.file = nil
	if err != nil {
		return newError(CodeFile, err.Error())
	}
	return nil
}
