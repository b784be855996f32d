// Command capture records what a real browser sends: it serves a test page
// from the fingerprint server of package testserver on localhost, opens it
// in the browser, and writes every connection's ClientHello, fingerprints
// and HTTP/2 preface and every request's headers in wire order to a JSON
// file, together with the identity data derived from the first
// navigation (identity_tls.go, identity_h2.go).
//
//	xvfb-run -a go run ./cmd/capture -browser chromium -out captures
//
// Each browser runs twice with a fresh profile: once against a server that
// offers h2 and http/1.1, once against one that offers http/1.1 only.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/scrapy-tlsclient/native/testserver"
)

func main() {
	name := flag.String("browser", "chromium", "chromium or firefox-esr")
	binary := flag.String("binary", "", "browser executable (default: the -browser name on PATH)")
	outDir := flag.String("out", "captures", "directory of the capture file")
	timeout := flag.Duration("timeout", 60*time.Second, "longest a browser may run")
	keep := flag.Bool("keep", false, "keep the temporary profiles and browser logs")
	flag.Parse()
	if *binary == "" {
		*binary = *name
	}
	if err := run(*name, *binary, *outDir, *timeout, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
}

func run(name, binary, outDir string, timeout time.Duration, keep bool) error {
	if os.Getenv("DISPLAY") == "" {
		return fmt.Errorf("no DISPLAY: run under xvfb-run -a, browsers must run headful")
	}
	b, err := detectBrowser(name, binary)
	if err != nil {
		return err
	}
	pki, err := newTestPKI()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "capture-"+name+"-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "capture: profiles in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	out := captureFile{
		Browser:    b.name,
		Version:    b.version,
		Platform:   platform(),
		CapturedAt: time.Now().UTC().Format(time.RFC3339),
		ToolCommit: toolCommit(),
	}
	for _, mode := range []struct {
		label string
		alpn  []string
	}{
		{"h2", []string{"h2", "http/1.1"}},
		{"http1", []string{"http/1.1"}},
	} {
		r, err := captureRun(b, pki, filepath.Join(tmp, mode.label), mode.alpn, timeout)
		if err != nil {
			return fmt.Errorf("%s run: %w", mode.label, err)
		}
		fmt.Fprintf(os.Stderr, "capture: %s run: %d connections, %d requests, page done: %v\n",
			mode.label, len(r.Connections), len(r.Requests), r.PageDone)
		out.Runs = append(out.Runs, r)
	}
	if err := out.deriveIdentity(); err != nil {
		return err
	}

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(outDir, fmt.Sprintf("%s-%s-linux.json", b.name, b.version))
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "capture: wrote", path)
	return nil
}

// captureRun opens the test page once in b against a server offering alpn.
func captureRun(b *browser, pki *testPKI, dir string, alpn []string, timeout time.Duration) (captureRunRecord, error) {
	page := newPageHandler()
	srv, err := testserver.StartCapture(testserver.CaptureConfig{
		Certificate: pki.leaf, NextProtos: alpn, Handler: page,
	})
	if err != nil {
		return captureRunRecord{}, err
	}
	defer srv.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return captureRunRecord{}, err
	}
	argv, env, err := b.prepare(dir, srv.URL+"/", pki.caPEM)
	if err != nil {
		return captureRunRecord{}, err
	}
	done, effective, err := runBrowser(argv, env, filepath.Join(dir, "browser.log"), page.done, 2*time.Second, timeout)
	if err != nil {
		return captureRunRecord{}, err
	}

	rec := captureRunRecord{
		ServerALPN: alpn, Command: argv, EffectiveCommand: effective,
		PageDone: done, Connections: srv.Connections(),
	}
	for _, c := range rec.Connections {
		for _, r := range c.Requests {
			rec.Requests = append(rec.Requests, requestRecord{
				Kind: kindOf(r.Path), CapturedRequest: r,
				JA3: c.JA3, JA3N: c.JA3N, JA4: c.JA4, Akamai: c.Akamai,
			})
		}
	}
	sort.SliceStable(rec.Requests, func(i, j int) bool { return rec.Requests[i].At.Before(rec.Requests[j].At) })
	return rec, nil
}

// platform names the OS as the browser runs on it.
func platform() string {
	p := runtime.GOOS + "/" + runtime.GOARCH
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				p += ", " + strings.Trim(v, `"`)
			}
		}
	}
	return p
}

// toolCommit is the commit of the checkout the tool runs from, marked
// "-dirty" when tracked files under the working directory have uncommitted
// changes (new capture files do not count).
func toolCommit() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ".").Output(); err == nil && len(st) > 0 {
		commit += "-dirty"
	}
	return commit
}
