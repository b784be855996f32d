package bridge

import (
	"strings"
	"testing"
	"time"
)

// After a GOAWAY that keeps the request's stream, the request waits for its
// answer only while the server keeps sending frames (third_party/fhttp,
// goAwaySilenceLimit): one that goes silent fails with connection_lost,
// naming the GOAWAY, about two seconds later and not at the call's
// timeout; one that answers slowly, a frame a second for four seconds,
// succeeds. A GOAWAY that refuses the stream still fails after one retry.
func TestGoAwayKeepsStreamsOnlyWhileTheServerTalks(t *testing.T) {
	b := New()
	h2 := testServers(t).Faults.URLs["h2"]
	long := map[string]any{"timeoutMilliseconds": 30000}

	start := time.Now()
	out := doRequest(t, b, req(h2+"/goaway-unanswered?last=at", long))
	elapsed := time.Since(start)
	if out.ErrorCode != CodeConnectionLost || !strings.Contains(out.Body, "GOAWAY") {
		t.Fatalf("silent after GOAWAY: %+v", out)
	}
	if elapsed < 1900*time.Millisecond || elapsed > 8*time.Second {
		t.Fatalf("silent after GOAWAY: failed after %v, want about 2 s", elapsed)
	}
	t.Logf("silent after GOAWAY: %q after %v", out.Body, elapsed)

	start = time.Now()
	out = doRequest(t, b, req(h2+"/goaway-slow-answer?frames=4&interval_ms=1000", long))
	if out.Status != 200 || string(dataURLBytes(t, out.Body)) != "ok" {
		t.Fatalf("slow answer after GOAWAY: %+v", out)
	}
	t.Logf("slow answer after GOAWAY: 200 after %v", time.Since(start))

	start = time.Now()
	out = doRequest(t, b, req(h2+"/goaway-unanswered?last=below", long))
	if out.ErrorCode != CodeConnectionLost || !strings.Contains(out.Body, "refused the request unprocessed") {
		t.Fatalf("refused by GOAWAY: %+v", out)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("refused by GOAWAY: failed after %v", elapsed)
	}
}
