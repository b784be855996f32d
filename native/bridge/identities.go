package bridge

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"github.com/bogdanfinn/tls-client/profiles"
)

// identities holds the profiles built from data by registerProfiles. It is
// process-wide, as upstream's MappedTLSClients is: a name means one
// ClientHello for the whole library.
var identities = &identityRegistry{byName: map[string]registeredIdentity{}}

type identityRegistry struct {
	mu     sync.RWMutex
	byName map[string]registeredIdentity
}

type registeredIdentity struct {
	profile profiles.ClientProfile
	// canonical is the spec as registered, re-encoded, so registering the
	// same identity again (a second handler in the process) is a no-op and
	// a different one under a taken name is refused: sessions are keyed by
	// name and must not silently change ClientHello.
	canonical []byte
}

func (r *identityRegistry) lookup(name string) (profiles.ClientProfile, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	id, ok := r.byName[name]
	return id.profile, ok
}

func (r *identityRegistry) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.byName))
	for name := range r.byName {
		names = append(names, name)
	}
	return names
}

// register builds every spec first and adds them all or none, so a file
// with one bad identity leaves the registry as it was.
func (r *identityRegistry) register(specs []IdentitySpec) error {
	built := make(map[string]registeredIdentity, len(specs))
	for i := range specs {
		spec := &specs[i]
		profile, err := buildIdentityProfile(spec)
		if err != nil {
			return fmt.Errorf("profiles[%d] (%q): %w", i, spec.Name, err)
		}
		if _, upstream := profiles.MappedTLSClients[spec.Name]; upstream {
			return newError(CodeInvalidInput, fmt.Sprintf(
				"profiles[%d]: the name %q is one of tls-client's compiled profiles; an identity needs a name of its own", i, spec.Name))
		}
		if _, dup := built[spec.Name]; dup {
			return newError(CodeInvalidInput, fmt.Sprintf("profiles[%d]: the name %q is given twice", i, spec.Name))
		}
		canonical, err := json.Marshal(spec)
		if err != nil {
			return newError(CodeInvalidInput, "cannot encode identity: "+err.Error())
		}
		built[spec.Name] = registeredIdentity{profile: profile, canonical: canonical}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, id := range built {
		if old, ok := r.byName[name]; ok && !bytes.Equal(old.canonical, id.canonical) {
			return newError(CodeInvalidInput, fmt.Sprintf(
				"identity %q is already registered with a different spec; give the changed identity a new name", name))
		}
	}
	for name, id := range built {
		r.byName[name] = id
	}
	return nil
}

type registerProfilesInput struct {
	Profiles []IdentitySpec `json:"profiles"`
}

type registerProfilesOutput struct {
	ID         string   `json:"id"`
	Registered []string `json:"registered"`
}

// RegisterProfiles adds browser identities built from data (IdentitySpec)
// under their names, beside upstream's compiled profiles; requests then
// name them in tlsClientIdentifier.
func (b *Bridge) RegisterProfiles(payload []byte) (string, []byte) {
	var in registerProfilesInput
	if err := decodeStrict(payload, &in); err != nil {
		return b.refuseInput("registerProfiles", err.Error())
	}
	if err := identities.register(in.Profiles); err != nil {
		out := b.errorResponse(nil, err)
		return out.ID, marshal(out)
	}
	out := registerProfilesOutput{ID: b.newID(), Registered: []string{}}
	for _, spec := range in.Profiles {
		out.Registered = append(out.Registered, spec.Name)
	}
	return out.ID, marshal(out)
}

// permutationCache gives one random order per list length, drawn once per
// process: the order Chromium's hash set gives its trust anchor IDs holds
// for the life of the browser and differs between runs.
type permutationCache struct {
	mu    sync.Mutex
	perms map[int][]int
}

var trustAnchorOrder = &permutationCache{perms: map[int][]int{}}

func (p *permutationCache) apply(records [][]byte) [][]byte {
	p.mu.Lock()
	perm, ok := p.perms[len(records)]
	if !ok {
		perm = make([]int, len(records))
		for i := range perm {
			perm[i] = i
		}
		for i := len(perm) - 1; i > 0; i-- {
			j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
			if err != nil {
				panic(err) // crypto/rand does not fail on supported platforms
			}
			perm[i], perm[j.Int64()] = perm[j.Int64()], perm[i]
		}
		p.perms[len(records)] = perm
	}
	p.mu.Unlock()
	out := make([][]byte, len(records))
	for i, from := range perm {
		out[i] = records[from]
	}
	return slices.Clip(out)
}
