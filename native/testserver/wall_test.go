package testserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func wallConfig(t *testing.T, s *Servers, c WallConfig) {
	t.Helper()
	body, _ := json.Marshal(c)
	resp, err := s.Client().Post(s.Wall+"/wall/config", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("config: %d %s", resp.StatusCode, msg)
	}
}

func wallLog(t *testing.T, s *Servers) []WallVerdict {
	t.Helper()
	resp, err := s.Client().Get(s.Wall + "/wall/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Entries []WallVerdict }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Entries
}

// wallGet fetches path with the given User-Agent and returns the status,
// the Retry-After header and the body.
func wallGet(t *testing.T, client *http.Client, s *Servers, path, userAgent string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.Wall+path, nil)
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
}

func TestWallJudgesEachRequestAndBlocksByRule(t *testing.T) {
	s, err := Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client := s.Client()

	// Learn this client's JA4 from the log.
	wallConfig(t, s, WallConfig{})
	if status, _, _ := wallGet(t, client, s, "/p/0", "go-a"); status != http.StatusOK {
		t.Fatalf("open wall answered %d", status)
	}
	ja4 := wallLog(t, s)[0].JA4
	if !strings.HasPrefix(ja4, "t13d") {
		t.Fatalf("JA4 %q", ja4)
	}

	// Coherence: only the identity's own User-Agent matches it as a whole;
	// two requests for one path on one HTTP/2 connection get their own
	// header blocks.
	wallConfig(t, s, WallConfig{Identities: []WallIdentity{{Name: "go", JA4: ja4, UserAgent: "go-a"}}})
	wallGet(t, client, s, "/same", "go-a")
	wallGet(t, client, s, "/same", "go-b")
	log := wallLog(t, s)
	if len(log) != 2 || !log[0].Coherent || log[0].Identity != "go" || log[1].Coherent || log[1].UserAgent != "go-b" {
		t.Fatalf("verdicts %+v", log)
	}
	if log[0].Protocol != "h2" || log[0].HeaderOrder[0] != "user-agent" {
		t.Fatalf("verdict %+v", log[0])
	}

	wallConfig(t, s, WallConfig{BlockJA4: []string{ja4}})
	if status, _, body := wallGet(t, client, s, "/p/1", "go-a"); status != 403 || !strings.Contains(body, "<title>Just a moment...</title>") {
		t.Fatalf("JA4 block: %d %q", status, body)
	}

	wallConfig(t, s, WallConfig{BlockHeaderOrders: [][]string{{"user-agent", "accept-encoding"}}})
	if status, _, body := wallGet(t, client, s, "/p/2", "go-a"); status != 403 || !strings.Contains(body, "captcha-delivery.com") {
		t.Fatalf("header order block: %d %q", status, body)
	}
	wallConfig(t, s, WallConfig{BlockHeaderOrders: [][]string{{"accept-encoding", "user-agent"}}})
	if status, _, _ := wallGet(t, client, s, "/p/3", "go-a"); status != 200 {
		t.Fatalf("another order blocked: %d", status)
	}

	wallConfig(t, s, WallConfig{BlockPaths: []string{"/never"}})
	if status, _, body := wallGet(t, client, s, "/never?x=1", "go-a"); status != 403 || !strings.Contains(body, "Access Denied") {
		t.Fatalf("path block: %d %q", status, body)
	}

	// Two requests per identity per minute; each User-Agent is its own
	// identity.
	wallConfig(t, s, WallConfig{RateLimit: 2, RetryAfter: 30})
	for i, want := range []int{200, 200, 429, 429} {
		status, retryAfter, _ := wallGet(t, client, s, "/r", "go-a")
		if status != want || (want == 429) != (retryAfter == "30") {
			t.Fatalf("request %d: %d Retry-After %q, want %d", i, status, retryAfter, want)
		}
	}
	if status, _, _ := wallGet(t, client, s, "/r", "go-b"); status != 200 {
		t.Fatalf("another identity: %d", status)
	}
	blocks := 0
	for _, v := range wallLog(t, s) {
		if v.Block == "rate_limit" {
			blocks++
		}
	}
	if blocks != 2 {
		t.Fatalf("%d rate-limit verdicts, want 2", blocks)
	}
}

func TestWallWindowSlides(t *testing.T) {
	wl := newWall()
	now := time.Unix(1000, 0)
	wl.now = func() time.Time { return now }
	wl.config = WallConfig{RateLimit: 1, WindowSeconds: 60}
	v := WallVerdict{JA4: "j", UserAgent: "u"}
	if wl.rule(v, now) != "" || wl.rule(v, now) != "rate_limit" {
		t.Fatal("second request within the window passed")
	}
	now = now.Add(59 * time.Second)
	if wl.rule(v, now) != "rate_limit" {
		t.Fatal("passed before the window slid")
	}
	now = now.Add(61 * time.Second)
	if wl.rule(v, now) != "" {
		t.Fatal("blocked after the window slid")
	}
}
