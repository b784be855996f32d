package main

import (
	"fmt"

	"github.com/scrapy-tlsclient/native/testserver"
)

// identityHTTP2 is an HTTP/2 preface in the identity registry's format.
type identityHTTP2 struct {
	Settings          [][2]any             `json:"settings"` // [name, value] in sent order
	WindowUpdate      uint32               `json:"window_update"`
	PriorityFrames    []identityPriority   `json:"priority_frames"`
	HeadersPriority   *identityHeadersPrio `json:"headers_priority"`
	PseudoHeaderOrder []string             `json:"pseudo_header_order"`
}

type identityPriority struct {
	StreamID  uint32 `json:"stream_id"`
	DependsOn uint32 `json:"depends_on"`
	Exclusive bool   `json:"exclusive"`
	Weight    int    `json:"weight"` // 1..256, the wire value plus one
}

type identityHeadersPrio struct {
	DependsOn uint32 `json:"depends_on"`
	Exclusive bool   `json:"exclusive"`
	Weight    int    `json:"weight"`
}

// RFC 9113 6.5.2, RFC 8441 3 and RFC 9218 2.1 names of the settings.
var settingNames = map[uint32]string{
	1: "HEADER_TABLE_SIZE", 2: "ENABLE_PUSH", 3: "MAX_CONCURRENT_STREAMS", 4: "INITIAL_WINDOW_SIZE",
	5: "MAX_FRAME_SIZE", 6: "MAX_HEADER_LIST_SIZE", 8: "ENABLE_CONNECT_PROTOCOL", 9: "NO_RFC7540_PRIORITIES",
}

func toIdentityHTTP2(p *testserver.H2Preface) *identityHTTP2 {
	out := &identityHTTP2{
		Settings:          [][2]any{},
		PriorityFrames:    []identityPriority{},
		PseudoHeaderOrder: append([]string{}, p.PseudoHeaderOrder...),
	}
	for _, s := range p.Settings {
		name, ok := settingNames[s[0]]
		if !ok {
			name = fmt.Sprintf("0x%x", s[0])
		}
		out.Settings = append(out.Settings, [2]any{name, s[1]})
	}
	if p.HasWindowUpdate {
		out.WindowUpdate = p.WindowUpdate
	}
	for _, pr := range p.PriorityFrames {
		out.PriorityFrames = append(out.PriorityFrames, identityPriority{pr.StreamID, pr.DependsOn, pr.Exclusive, pr.Weight})
	}
	if hp := p.HeadersPriority; hp != nil {
		out.HeadersPriority = &identityHeadersPrio{hp.DependsOn, hp.Exclusive, hp.Weight}
	}
	return out
}
