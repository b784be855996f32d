package bridge

import (
	"net"
	"sync"
	"syscall"
)

// connSet holds the connections a client handed to calls, so that closing
// a session closes all of them. The client's own CloseIdleConnections
// reaches only the connections in its pool, and fhttp's HTTP/2 transport
// takes a connection out of the pool when the server sends GOAWAY: such a
// connection, left open by the server, would otherwise live until the
// transport's idle timeout.
type connSet struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	// pruneAt is the size at which closed connections are dropped.
	pruneAt int
}

// Bounds of the set: it is pruned of closed connections when it reaches
// twice its size after the last prune (at least connSetMinPrune), and never
// tracks more than connSetMax (beyond that the transport's idle timeout
// still closes what is left).
const (
	connSetMinPrune = 64
	connSetMax      = 4096
)

func newConnSet() *connSet {
	return &connSet{conns: map[net.Conn]struct{}{}, pruneAt: connSetMinPrune}
}

func (s *connSet) add(c net.Conn) {
	if c == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; ok {
		return
	}
	if len(s.conns) >= s.pruneAt {
		for tracked := range s.conns {
			if isClosed(tracked) {
				delete(s.conns, tracked)
			}
		}
		s.pruneAt = max(connSetMinPrune, 2*len(s.conns))
	}
	if len(s.conns) < connSetMax {
		s.conns[c] = struct{}{}
	}
}

// closeAll closes every tracked connection and forgets them.
func (s *connSet) closeAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns = map[net.Conn]struct{}{}
	s.pruneAt = connSetMinPrune
	s.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// isClosed reports whether the socket under c is closed, without reading
// or writing: a raw connection's Control fails once its descriptor is
// closed. A connection whose socket cannot be reached counts as open.
func isClosed(c net.Conn) bool {
	for range 8 { // TLS over a tunnel over TCP is three deep
		if sc, ok := c.(syscall.Conn); ok {
			raw, err := sc.SyscallConn()
			if err != nil {
				return true
			}
			return raw.Control(func(uintptr) {}) != nil
		}
		inner, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return false
		}
		c = inner.NetConn()
	}
	return false
}
