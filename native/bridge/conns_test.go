package bridge

import (
	"net"
	"testing"
	"time"
)

// loopbackConn dials a loopback listener and returns the client end.
func loopbackConn(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConnSetClosesWhatItTracks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := newConnSet()
	a, b := loopbackConn(t, ln), loopbackConn(t, ln)
	s.add(a)
	s.add(b)
	s.add(a)
	if s.len() != 2 {
		t.Fatalf("tracked %d connections, want 2", s.len())
	}
	if isClosed(a) {
		t.Fatal("an open connection reads as closed")
	}
	s.closeAll()
	if !isClosed(a) || !isClosed(b) || s.len() != 0 {
		t.Fatalf("after closeAll: a closed %v, b closed %v, %d tracked", isClosed(a), isClosed(b), s.len())
	}
}

func TestConnSetDropsClosedConnectionsWhenItGrows(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := newConnSet()
	for range 3 * connSetMinPrune {
		c := loopbackConn(t, ln)
		s.add(c)
		_ = c.Close()
	}
	if n := s.len(); n > connSetMinPrune {
		t.Fatalf("%d closed connections still tracked, want at most %d", n, connSetMinPrune)
	}
	open := loopbackConn(t, ln)
	defer open.Close()
	s.add(open)
	for range connSetMinPrune {
		c := loopbackConn(t, ln)
		s.add(c)
		_ = c.Close()
	}
	s.mu.Lock()
	_, kept := s.conns[open]
	s.mu.Unlock()
	if !kept {
		t.Fatal("pruning dropped an open connection")
	}
}
