package bridge

import (
	"encoding/json"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

type measured struct {
	measureOutput
	Body      string `json:"body"`
	ErrorCode string `json:"errorCode"`
}

func measureOf(t *testing.T, b *Bridge, input map[string]any) measured {
	t.Helper()
	_, raw := b.MeasureProfile(mustJSON(t, input))
	var out measured
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("measureProfile answered %s: %v", raw, err)
	}
	return out
}

// Chrome 152's published JA4 and Akamai (bogdanfinn/tls-client#281), as
// the compiled profile puts them on the wire, shuffled or not.
func TestMeasureProfileChrome152(t *testing.T) {
	b := New()
	for _, shuffle := range []bool{false, true} {
		got := measureOf(t, b, map[string]any{"profile": "chrome_152", "withRandomTLSExtensionOrder": shuffle})
		if got.ErrorCode != "" {
			t.Fatalf("shuffle %v: %s: %s", shuffle, got.ErrorCode, got.Body)
		}
		if got.JA4 != "t13d1517h2_8daaf6152771_cb7bf5808d99" {
			t.Errorf("shuffle %v: JA4 %s", shuffle, got.JA4)
		}
		if got.Akamai != "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p" {
			t.Errorf("shuffle %v: Akamai %s", shuffle, got.Akamai)
		}
		if got.HTTPVersion != "h2" || got.JA3N == "" || len(got.JA3NHash) != 32 || got.JA3 == "" || got.ID == "" {
			t.Errorf("shuffle %v: %+v", shuffle, got.measureOutput)
		}
	}
}

// The export computes what the test suite's fingerprint server computes.
func TestMeasureProfileAgreesWithTheFingerprintServer(t *testing.T) {
	b := New()
	for _, name := range []string{"firefox_147", "safari_ios_26_0"} {
		got := measureOf(t, b, map[string]any{"profile": name})
		want := fingerprintOf(t, b, name, nil)
		if got.JA4 != want.JA4 || got.JA3NHash != want.JA3NHash || got.JA3N != want.JA3N || got.Akamai != want.Akamai {
			t.Errorf("%s: measured %+v; fingerprint server JA4 %s JA3N %s Akamai %s",
				name, got.measureOutput, want.JA4, want.JA3NHash, want.Akamai)
		}
	}
}

func TestMeasureProfileOverHTTP1(t *testing.T) {
	got := measureOf(t, New(), map[string]any{"profile": "chrome_152", "forceHttp1": true})
	if got.ErrorCode != "" || got.HTTPVersion != "http/1.1" || got.Akamai != "-" || got.JA4 == "" {
		t.Fatalf("%+v %s %s", got.measureOutput, got.ErrorCode, got.Body)
	}
}

func TestMeasureProfileErrors(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		input map[string]any
		code  string
	}{
		{map[string]any{"profile": "no_such_browser"}, CodeUnknownProfile},
		{map[string]any{"profile": ""}, CodeInvalidInput},
		{map[string]any{"profile": "chrome_152", "typo": true}, CodeInvalidInput},
	} {
		if got := measureOf(t, b, tc.input); got.ErrorCode != tc.code || got.JA4 != "" {
			t.Errorf("%v: %s %q, want %s", tc.input, got.ErrorCode, got.Body, tc.code)
		}
	}
}

// Everything a measurement starts (listener, connections, the server's
// and the client's goroutines) is gone when it returns.
func TestMeasureProfileLeavesNothingBehind(t *testing.T) {
	b := New()
	// The first request starts tls-client's process-wide goroutines, which
	// stay; count after it.
	measureOf(t, b, map[string]any{"profile": "chrome_152"})
	goroutines, fds := runtime.NumGoroutine(), openFiles(t)
	for _, h1 := range []bool{false, true, false} {
		if got := measureOf(t, b, map[string]any{"profile": "chrome_152", "forceHttp1": h1}); got.ErrorCode != "" {
			t.Fatalf("%s: %s", got.ErrorCode, got.Body)
		}
	}
	measureOf(t, b, map[string]any{"profile": "no_such_browser"})
	waitFor(t, func() bool { return runtime.NumGoroutine() <= goroutines && openFiles(t) <= fds })
	assertNoLeftovers(t, b)
}

func openFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(entries)
}

// A client that connects and sends nothing holds the server only until
// the measurement's deadline, even before stop.
func TestMeasureServerGivesUpAtItsDeadline(t *testing.T) {
	srv, err := startMeasureServer(time.Now().Add(200 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", srv.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	select {
	case <-srv.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the server still waits for a ClientHello 5 s after its deadline")
	}
	if seen := srv.stop(); seen.hello != nil || seen.helloErr == nil {
		t.Fatalf("saw %+v", seen)
	}
}
