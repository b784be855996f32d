// Command testserver runs the loopback test servers of package testserver
// for tests written in other languages.
//
//	testserver -cert-dir DIR
//
// It prints one JSON line (wrapped here) with the base URLs, the certificate
// path and the URLs of the proxies of package testserver, which carry no
// credentials,
//
//	{"http":"http://127.0.0.1:P1","https":"https://127.0.0.1:P2","h2":"https://127.0.0.1:P3","cert":"/abs/DIR/cert.pem",
//	 "proxy":"http://127.0.0.1:P4","proxy_auth":"http://127.0.0.1:P5","socks5":"socks5://127.0.0.1:P6","proxy_tls":"https://127.0.0.1:P7",
//	 "proxy_echo":"http://127.0.0.1:P8","proxy_connect_only":"http://127.0.0.1:P9","fingerprint":"https://localhost:P10",
//	 "wall":"https://localhost:P11"}
//
// and serves until stdin reaches EOF, SIGINT or SIGTERM arrives, or its
// parent process dies; then it exits with status 0. Give it a stdin pipe
// (or -watch-stdin=false): an stdin at EOF, like /dev/null, stops it at once.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/scrapy-tlsclient/native/testserver"
)

// readyLine is the JSON line announcing the servers.
type readyLine struct {
	HTTP  string `json:"http"`
	HTTPS string `json:"https"`
	H2    string `json:"h2"`
	Cert  string `json:"cert"`

	Proxy     string `json:"proxy"`
	ProxyAuth string `json:"proxy_auth"`
	Socks5    string `json:"socks5"`
	ProxyTLS  string `json:"proxy_tls"`

	ProxyEcho        string `json:"proxy_echo"`
	ProxyConnectOnly string `json:"proxy_connect_only"`

	Fingerprint string `json:"fingerprint"`
	Wall        string `json:"wall"`
}

func main() {
	os.Exit(run())
}

func run() int {
	certDir := flag.String("cert-dir", "", "directory to write cert.pem to (required)")
	watchStdin := flag.Bool("watch-stdin", true, "exit when stdin reaches EOF")
	flag.Parse()
	if *certDir == "" || flag.NArg() > 0 {
		flag.Usage()
		return 2
	}
	dir, err := filepath.Abs(*certDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		return 1
	}
	// Watch the parent and the signals before starting, so that a death or
	// a SIGTERM right after the ready line is not missed.
	orphaned := parentGone()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := testserver.Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()

	line, err := json.Marshal(readyLine{
		HTTP: srv.HTTP, HTTPS: srv.HTTPS, H2: srv.H2, Cert: srv.CertFile,
		Proxy: srv.Proxy, ProxyAuth: srv.ProxyAuth, Socks5: srv.Socks5, ProxyTLS: srv.ProxyTLS,
		ProxyEcho: srv.ProxyEcho, ProxyConnectOnly: srv.ProxyConnectOnly,
		Fingerprint: srv.Fingerprint, Wall: srv.Wall,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		return 1
	}
	// os.Stdout is unbuffered: the line is out once Write returns.
	if _, err := os.Stdout.Write(append(line, '\n')); err != nil {
		return 1
	}

	var stdinDone <-chan struct{}
	if *watchStdin {
		stdinDone = drained(os.Stdin)
	}
	select {
	case <-ctx.Done():
	case <-stdinDone:
	case <-orphaned:
	}
	return 0
}

// drained is closed when r reaches EOF or fails, which for a pipe means that
// every process holding its write end, normally just the parent, is gone.
func drained(r io.Reader) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, r)
	}()
	return done
}

// parentGone is closed when the process is re-parented, which on Unix means
// its parent died. It covers parents that keep no pipe to stdin.
func parentGone() <-chan struct{} {
	done := make(chan struct{})
	parent := os.Getppid()
	go func() {
		defer close(done)
		for os.Getppid() == parent {
			time.Sleep(500 * time.Millisecond)
		}
	}()
	return done
}
