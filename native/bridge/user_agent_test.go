package bridge

import (
	"strings"
	"testing"

	"github.com/scrapy-tlsclient/native/testserver"
)

// A request without a User-Agent goes out without one over HTTP/1.1 and
// HTTP/2, whether it names its headers as headersList or as the headers
// map: the patched fhttp adds no "Go-http-client/1.1" or "/2.0"
// (third_party/fhttp/PATCHES.md). One the request has goes out once.
func TestNoUserAgentIsAddedThatTheRequestDoesNotHave(t *testing.T) {
	b := New()
	for name, base := range bases(t) {
		t.Run(name, func(t *testing.T) {
			inputs := map[string]map[string]any{
				"headersList": {"headersList": [][2]string{{"X-A", "1"}}},
				"headers":     {"headers": map[string]string{"X-A": "1"}},
			}
			for form, extra := range inputs {
				for attempt := range 2 { // a new connection, then a reused one
					if got := userAgentsSent(t, b, base, extra); len(got) != 0 {
						t.Fatalf("%s, attempt %d: User-Agent %q went out", form, attempt, got)
					}
				}
			}
			extra := map[string]any{"headersList": [][2]string{{"User-Agent", "UA/1"}}}
			if got := userAgentsSent(t, b, base, extra); len(got) != 1 || got[0] != "UA/1" {
				t.Fatalf("User-Agent %q went out for UA/1", got)
			}
		})
	}
}

func userAgentsSent(t *testing.T, b *Bridge, base string, extra map[string]any) []string {
	t.Helper()
	out := doRequest(t, b, req(base+"/echo", extra))
	if out.Status != 200 {
		t.Fatalf("status %d error %q %q", out.Status, out.ErrorCode, out.Body)
	}
	var got []string
	for _, h := range decode[testserver.EchoReply](t, dataURLBytes(t, out.Body)).Headers {
		if strings.EqualFold(h[0], "User-Agent") {
			got = append(got, h[1])
		}
	}
	return got
}
