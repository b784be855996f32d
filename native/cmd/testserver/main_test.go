package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
			for _, url := range []string{ready.HTTP, ready.HTTPS, ready.H2} {
				if !strings.HasPrefix(url, "http") || !strings.Contains(url, "://127.0.0.1:") {
					t.Errorf("URL %q", url)
				}
			}
			c := &http.Client{Timeout: testTimeout}
			resp, err := c.Get(ready.HTTP + "/status/200")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

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
	var ready readyLine
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ready); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	return ready
}
