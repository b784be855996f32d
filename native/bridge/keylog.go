package bridge

import (
	"io"
	"os"
	"sync"

	tls_client "github.com/bogdanfinn/tls-client"
)

// Key log files named by RequestInput.sslKeyLogFile, opened once per path
// and shared by every client that names it: the lines of concurrent
// handshakes must not interleave, and a crawl builds many clients.
var keyLogFiles = struct {
	sync.Mutex
	writers map[string]io.Writer
}{writers: map[string]io.Writer{}}

// keyLogWriterFor returns the shared appending writer for path, nil for ""
// or when the file cannot be opened: a key log is a debugging aid, and the
// caller (the Python handler) checks the path and warns before it names it.
// A failed open is not remembered, so a path that becomes writable later
// works for the next client.
func keyLogWriterFor(path string) io.Writer {
	if path == "" {
		return nil
	}
	keyLogFiles.Lock()
	defer keyLogFiles.Unlock()
	if w, ok := keyLogFiles.writers[path]; ok {
		return w
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil
	}
	w := &syncWriter{w: f}
	keyLogFiles.writers[path] = w
	return w
}

// withKeyLog sets the key log writer the input names, if it names one;
// otherwise t keeps the process-wide $SSLKEYLOGFILE writer.
func withKeyLog(t *tls_client.TransportOptions, path *string) *tls_client.TransportOptions {
	if path != nil {
		t.KeyLogWriter = keyLogWriterFor(*path)
	}
	return t
}
