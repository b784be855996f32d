package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/scrapy-tlsclient/native/fingerprint"
	"github.com/scrapy-tlsclient/native/testserver"
)

// deriveIdentity fills in the identity from the connection that carried
// the first top-level navigation of the run that offered h2. Extension
// shuffling is read off all connections of all runs: a browser that
// permutes its extensions shows more than one order.
func (f *captureFile) deriveIdentity() error {
	var nav *testserver.CapturedConn
	orders := map[string]bool{}
	var hellos []*parsedHello
	for ri, run := range f.Runs {
		for ci := range run.Connections {
			c := &run.Connections[ci]
			h, err := parseHello(c.ClientHello)
			if err != nil {
				return fmt.Errorf("connection %d: %w", c.ID, err)
			}
			orders[h.extensionOrder()] = true
			hellos = append(hellos, h)
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
	if err := mergeECH(f.IdentityTLS, hellos); err != nil {
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

// mergeECH widens the ECH GREASE extension of id to the suites and payload
// lengths of all hellos: browsers draw them per connection (BoringSSL a
// length of 128, 160, 192 or 224 bytes plus the 16-byte AEAD tag; NSS the
// AEAD), so one connection shows one draw only. Suites keep the order
// first seen, lengths are sorted.
func mergeECH(id *identityTLS, hellos []*parsedHello) error {
	var target map[string]any
	for _, e := range id.Extensions {
		if e["name"] == "encrypted_client_hello" {
			target = e
		}
	}
	if target == nil {
		return nil
	}
	suites := []map[string]string{}
	seenSuite := map[string]bool{}
	lengths := []int{}
	seenLen := map[int]bool{}
	for _, h := range hellos {
		for _, e := range h.extensions {
			if e.id != 0xfe0d {
				continue
			}
			ech, err := describeECH(fingerprint.NewReader(e.data))
			if err != nil {
				return err
			}
			for _, s := range ech["cipher_suites"].([]map[string]string) {
				if key := s["kdf"] + "/" + s["aead"]; !seenSuite[key] {
					seenSuite[key] = true
					suites = append(suites, s)
				}
			}
			for _, n := range ech["payload_lengths"].([]int) {
				if !seenLen[n] {
					seenLen[n] = true
					lengths = append(lengths, n)
				}
			}
		}
	}
	slices.Sort(lengths)
	target["cipher_suites"], target["payload_lengths"] = suites, lengths
	return nil
}
