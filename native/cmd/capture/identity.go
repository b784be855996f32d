package main

import (
	"errors"
	"fmt"

	"github.com/scrapy-tlsclient/native/testserver"
)

// deriveIdentity fills in the identity from the connection that carried
// the first top-level navigation of the run that offered h2. Extension
// shuffling is read off all connections of all runs: a browser that
// permutes its extensions shows more than one order.
func (f *captureFile) deriveIdentity() error {
	var nav *testserver.CapturedConn
	orders := map[string]bool{}
	for ri, run := range f.Runs {
		for ci := range run.Connections {
			c := &run.Connections[ci]
			h, err := parseHello(c.ClientHello)
			if err != nil {
				return fmt.Errorf("connection %d: %w", c.ID, err)
			}
			orders[h.extensionOrder()] = true
			if nav == nil && ri == 0 && c.Protocol == "h2" && carries(run, c.ID, "navigate") {
				nav = c
			}
		}
	}
	if nav == nil {
		return errors.New("no top-level navigation over h2 was captured")
	}
	h, err := parseHello(nav.ClientHello)
	if err != nil {
		return err
	}
	if f.IdentityTLS, err = h.toIdentityTLS(len(orders) > 1); err != nil {
		return err
	}
	if nav.H2 == nil {
		return errors.New("the navigation's connection has no HTTP/2 preface")
	}
	f.IdentityHTTP2 = toIdentityHTTP2(nav.H2)
	return nil
}

func carries(run captureRunRecord, conn int, kind string) bool {
	for _, r := range run.Requests {
		if r.Conn == conn && r.Kind == kind {
			return true
		}
	}
	return false
}
