package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrapy-tlsclient/native/testserver"
)

// writeInput writes a page's request input, as the handler builds it, for
// pages at url plus their number.
func writeInput(t *testing.T, url string) string {
	t.Helper()
	input := map[string]any{
		"requestUrl": url, "requestMethod": "GET", "tlsClientIdentifier": "chrome_150",
		"headersList":        [][2]string{{"User-Agent", "pagecost-test"}, {"Accept", "*/*"}},
		"insecureSkipVerify": true, "withoutCookieJar": true, "followRedirects": false,
		"timeoutMilliseconds": 10000, "isByteResponse": true, "binaryBody": true,
		"prefetchBytes": 65536, "prefetchTimeoutMs": 1000, "streamId": "recorded-0",
		"transportOptions": map[string]int{"maxIdleConnsPerHost": 4, "maxConnsPerHost": 4},
	}
	encoded, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(path, encoded, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func servers(t *testing.T) *testserver.Servers {
	t.Helper()
	srv, err := testserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func TestBothModesMeasureEveryPage(t *testing.T) {
	input := writeInput(t, servers(t).HTTPS+"/bytes?n=2048&i=")
	for _, mode := range []string{"upstream", "bridge"} {
		t.Run(mode, func(t *testing.T) {
			out, err := run(input, mode, 40, 8, 4)
			if err != nil {
				t.Fatal(err)
			}
			if out.Mode != mode || out.Pages != 40 || out.Concurrency != 4 || out.CPUMicrosPage <= 0 || out.WallSeconds <= 0 {
				t.Fatalf("got %+v", out)
			}
		})
	}
}

func TestAPageThatFailsStopsTheMeasure(t *testing.T) {
	input := writeInput(t, servers(t).HTTPS+"/status/404?i=")
	for mode, want := range map[string]string{"upstream": "status 404", "bridge": "not a whole 200 response"} {
		t.Run(mode, func(t *testing.T) {
			_, err := run(input, mode, 10, 2, 2)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want an error with %q", err, want)
			}
		})
	}
}

func TestBadArgumentsAreRefusedByName(t *testing.T) {
	input := writeInput(t, "https://127.0.0.1:1/bytes?i=")
	for _, c := range []struct {
		mode                       string
		pages, warmup, concurrency int
		want                       string
	}{
		{"bridge", 0, 1, 1, "-pages"},
		{"bridge", 1, 1, 0, "-concurrency"},
		{"bridge", 1, -1, 1, "-warmup"},
		{"curl", 1, 1, 1, `-mode "curl": accepted: bridge, upstream`},
	} {
		if _, err := run(input, c.mode, c.pages, c.warmup, c.concurrency); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v", c, err)
		}
	}
	if _, err := run("", "bridge", 1, 1, 1); err == nil || !strings.Contains(err.Error(), "-input is required") {
		t.Errorf("no -input: got %v", err)
	}
	if _, err := run(filepath.Join(t.TempDir(), "missing.json"), "bridge", 1, 1, 1); err == nil {
		t.Error("a missing input file was taken")
	}
}

func TestTheUpstreamModeWantsACompiledProfile(t *testing.T) {
	path := writeInput(t, "https://127.0.0.1:1/bytes?i=")
	var input map[string]any
	encoded, _ := os.ReadFile(path)
	_ = json.Unmarshal(encoded, &input)
	input["tlsClientIdentifier"] = "chrome_156_windows" // an identity of this project's, not upstream's
	encoded, _ = json.Marshal(input)
	if err := os.WriteFile(path, encoded, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := run(path, "upstream", 1, 1, 1)
	if err == nil || !strings.Contains(err.Error(), `"chrome_156_windows" is not one of upstream's compiled profiles`) {
		t.Fatalf("got %v", err)
	}
}
