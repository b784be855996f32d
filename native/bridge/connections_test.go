package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A finished call must not close the connection it dialled: 600 requests,
// 16 at a time, reuse the 16 connections of the first wave.
func TestConnectionsAreReused(t *testing.T) {
	s := testServers(t)
	for _, mode := range []string{"request", "prefetch", "stream"} {
		b := New()
		conns := func() int {
			out := doRequest(t, b, req(s.HTTPS+"/conns", map[string]any{"sessionId": "probe"}))
			var v struct{ Accepted int }
			json.Unmarshal(dataURLBytes(t, out.Body), &v)
			return v.Accepted
		}
		before := conns()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := 0; i < 600; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				in := req(fmt.Sprintf("%s/bytes?n=100&i=%d", s.HTTPS, i), map[string]any{"sessionId": "churn",
					"transportOptions": map[string]any{"maxIdleConnsPerHost": 16, "maxConnsPerHost": 16}})
				switch mode {
				case "request":
					b.Request(mustJSON(t, in))
				case "prefetch":
					in["prefetchBytes"] = 65536
					in["prefetchTimeoutMs"] = 100
					b.RequestStream(mustJSON(t, in))
				case "stream":
					_, out := b.RequestStream(mustJSON(t, in))
					r := decode[Response](t, out)
					for {
						c := readChunk(t, b, r.StreamID, 1000, 0)
						if c.EOF || c.Error != "" {
							break
						}
					}
				}
			}(i)
		}
		wg.Wait()
		if opened := conns() - before - 1; opened > 16 {
			t.Errorf("%s: %d connections opened for 600 requests at 16 in flight", mode, opened)
		}
	}
}

// Cancelling the stream that dialled an HTTP/2 connection leaves the other
// streams multiplexed on it alone.
func TestCancelKeepsSharedHTTP2Connection(t *testing.T) {
	b := New()
	s := testServers(t)
	first := startStream(t, b, req(s.H2+"/sse?events=0&interval_ms=20", map[string]any{"sessionId": "shared-h2"}))
	second := startStream(t, b, req(s.H2+"/bytes?n=2000000", map[string]any{"sessionId": "shared-h2", "streamBufferChunks": 2}))
	readChunk(t, b, first.StreamID, 5000, 0)
	b.CancelStream(mustJSON(t, map[string]any{"streamId": first.StreamID}))
	if got := drain(t, b, second.StreamID, 20*time.Second); !bytes.Equal(got, pattern(2000000)) {
		t.Fatalf("second stream got %d bytes", len(got))
	}
}
