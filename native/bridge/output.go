package bridge

import (
	"os"
	"sync"
)

// A readStream with outputPath (extension) appends the body bytes it
// gathered to that file instead of returning them, and answers with the
// count (StreamChunk.Written). The caller creates the file (and may have
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
	// scratch joins a read's pieces; kept for the stream's next reads.
	scratch []byte
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
	data := pieces[0]
	if len(pieces) > 1 {
		// One write per read, not per piece: pieces are often single TLS
		// records (16 KiB), and a write syscall per record cost 5x the
		// time of 512 KiB writes here (docs/abi.rst, "Body to a file").
		o.scratch = o.scratch[:0]
		for _, p := range pieces {
			o.scratch = append(o.scratch, p...)
		}
		data = o.scratch
	}
	n, err := o.file.Write(data)
	if err != nil {
		return n, newError(CodeFile, err.Error())
	}
	return n, nil
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
	o.file, o.scratch = nil, nil
	if err != nil {
		return newError(CodeFile, err.Error())
	}
	return nil
}
