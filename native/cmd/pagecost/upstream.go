package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	http "github.com/bogdanfinn/fhttp"
	tls_client "github.com/bogdanfinn/tls-client"
	"github.com/bogdanfinn/tls-client/profiles"
	"github.com/scrapy-tlsclient/native/bridge"
)

// upstream makes each page with upstream's client from a pool of
// long-lived goroutines: no JSON, no hand-over, one goroutine per request
// in flight for the whole run.
type upstream struct {
	client tls_client.HttpClient
	page   *bridge.RequestInput
	order  []string // the header names in the order they are sent
}

func newUpstream(p *bridge.RequestInput, concurrency int) (*upstream, error) {
	profile, ok := profiles.MappedTLSClients[p.TLSClientIdentifier]
	if !ok {
		return nil, fmt.Errorf("tlsClientIdentifier %q is not one of upstream's compiled profiles", p.TLSClientIdentifier)
	}
	// The bridge's transport for the same input (bridge/clients.go,
	// transportOptions): compression left to the caller.
	transport := &tls_client.TransportOptions{DisableCompression: true}
	if p.TransportOptions != nil {
		transport.MaxIdleConnsPerHost = p.TransportOptions.MaxIdleConnsPerHost
		transport.MaxConnsPerHost = p.TransportOptions.MaxConnsPerHost
	}
	if transport.MaxConnsPerHost == 0 {
		transport.MaxIdleConnsPerHost, transport.MaxConnsPerHost = concurrency, concurrency
	}
	options := []tls_client.HttpClientOption{
		tls_client.WithClientProfile(profile),
		tls_client.WithTimeoutMilliseconds(p.TimeoutMilliseconds),
		tls_client.WithNotFollowRedirects(),
		tls_client.WithTransportOptions(transport),
	}
	if p.InsecureSkipVerify {
		options = append(options, tls_client.WithInsecureSkipVerify())
	}
	client, err := tls_client.NewHttpClient(tls_client.NewNoopLogger(), options...)
	if err != nil {
		return nil, err
	}
	order := make([]string, len(p.HeadersList))
	for i, header := range p.HeadersList {
		order[i] = strings.ToLower(header[0])
	}
	return &upstream{client: client, page: p, order: order}, nil
}

func (u *upstream) run(first, n, concurrency int) error {
	var next atomic.Int64
	next.Store(int64(first))
	end := int64(first + n)
	failures := make(chan error, concurrency)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < end; i = next.Add(1) - 1 {
				if err := u.get(int(i)); err != nil {
					failures <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	return <-failures // nil when none failed
}

func (u *upstream) get(i int) error {
	method := u.page.RequestMethod
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, u.page.RequestURL+strconv.Itoa(i), nil)
	if err != nil {
		return err
	}
	for _, header := range u.page.HeadersList {
		req.Header[header[0]] = []string{header[1]}
	}
	req.Header[http.HeaderOrderKey] = u.order
	resp, err := u.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("page %d: status %d", i, resp.StatusCode)
	}
	return nil
}

func (u *upstream) close() { u.client.CloseIdleConnections() }
