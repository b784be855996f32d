package main

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testTimeout = 15 * time.Second

// TestMain lets the tests run this test binary as the command itself.
func TestMain(m *testing.M) {
	if os.Getenv("TESTSERVER_AS_MAIN") == "1" {
		os.Args = append([]string{os.Args[0]}, strings.Fields(os.Getenv("TESTSERVER_ARGS"))...)
		os.Exit(run())
	}
	os.Exit(m.Run())
}

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(cmd *exec.Cmd, stdin *os.File) error
	}{
		{"stdin EOF", func(_ *exec.Cmd, stdin *os.File) error { return stdin.Close() }},
		{"SIGTERM", func(cmd *exec.Cmd, _ *os.File) error { return cmd.Process.Signal(syscall.SIGTERM) }},
		{"SIGINT", func(cmd *exec.Cmd, _ *os.File) error { return cmd.Process.Signal(os.Interrupt) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "TESTSERVER_AS_MAIN=1", "TESTSERVER_ARGS=-cert-dir "+dir)
			cmd.Stderr = os.Stderr
			stdinR, stdinW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdinW.Close()
			cmd.Stdin = stdinR
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stdinR.Close()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer cmd.Process.Kill()

			ready := readReady(t, stdout)
			if ready.Cert != filepath.Join(dir, "cert.pem") {
				t.Errorf("cert %q, want it in %s", ready.Cert, dir)
			}
			for _, u := range []struct{ url, scheme string }{
				{ready.HTTP, "http"}, {ready.HTTPS, "https"}, {ready.H2, "https"},
				{ready.Proxy, "http"}, {ready.ProxyAuth, "http"}, {ready.Socks5, "socks5"}, {ready.ProxyTLS, "https"},
				{ready.ProxyEcho, "http"}, {ready.ProxyConnectOnly, "http"},
			} {
				if !strings.HasPrefix(u.url, u.scheme+"://127.0.0.1:") {
					t.Errorf("URL %q, want %s://127.0.0.1:PORT", u.url, u.scheme)
				}
			}
			c := &http.Client{Timeout: testTimeout}
			resp, err := c.Get(ready.HTTP + "/status/200")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			checkProxy(t, ready)

			if err := tc.stop(cmd, stdinW); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit: %v", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("still running")
			}
		})
	}
}

// checkProxy sends a request through the HTTP proxy and finds it in the
// proxy log.
func checkProxy(t *testing.T, ready readyLine) {
	t.Helper()
	proxyURL, err := url.Parse(ready.Proxy)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL)}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: testTimeout, Transport: tr}
	resp, err := c.Get(ready.HTTP + "/status/203")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 203 {
		t.Errorf("through the proxy: status %d", resp.StatusCode)
	}
	resp, err = (&http.Client{Timeout: testTimeout}).Get(ready.HTTP + "/proxy-log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var log struct {
		Entries []struct {
			Proxy  string `json:"proxy"`
			Method string `json:"method"`
			Target string `json:"target"`
			Status int    `json:"status"`
		} `json:"entries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&log); err != nil {
		t.Fatal(err)
	}
	if len(log.Entries) != 1 || log.Entries[0].Proxy != "proxy" || log.Entries[0].Method != "GET" ||
		log.Entries[0].Target != ready.HTTP+"/status/203" || log.Entries[0].Status != 203 {
		t.Errorf("proxy log %+v", log.Entries)
	}
}

// readReady reads the JSON line the command prints once it serves.
func readReady(t *testing.T, stdout io.Reader) readyLine {
	t.Helper()
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(testTimeout):
		t.Fatal("no ready line")
	}
	// Every key must be there, and no other.
	var keys map[string]any
	if err := json.Unmarshal([]byte(line), &keys); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	want := []string{"cert", "fingerprint", "h2", "http", "https", "proxy", "proxy_auth", "proxy_connect_only", "proxy_echo", "proxy_tls", "socks5", "wall"}
	if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, want) {
		t.Errorf("ready line keys %v, want %v", got, want)
	}
	var ready readyLine
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ready); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	return ready
}
