package bridge

import (
	"fmt"
	"sync"

	tls_client "github.com/bogdanfinn/tls-client"
)

// collectingLogger keeps a debug call's log lines so they travel back in the
// envelope (debugLog) instead of going to the process's raw stdout, where
// upstream's debug logger prints them and Scrapy never sees them.
type collectingLogger struct {
	mu    sync.Mutex
	lines []string
}

const maxDebugLines = 2000

func (l *collectingLogger) add(level, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < maxDebugLines {
		l.lines = append(l.lines, level+": "+fmt.Sprintf(format, args...))
	}
}

func (l *collectingLogger) Debug(format string, args ...any) { l.add("DEBUG", format, args...) }
func (l *collectingLogger) Info(format string, args ...any)  { l.add("INFO", format, args...) }
func (l *collectingLogger) Warn(format string, args ...any)  { l.add("WARN", format, args...) }
func (l *collectingLogger) Error(format string, args ...any) { l.add("ERROR", format, args...) }

func (l *collectingLogger) snapshot() []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

var _ tls_client.Logger = (*collectingLogger)(nil)
