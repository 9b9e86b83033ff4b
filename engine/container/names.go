package container

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"

	"github.com/containerd/errdefs"
)

// validName is Docker's rule for container names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func checkName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

var (
	nameLeft = []string{"agile", "bold", "brave", "calm", "clever", "eager", "fervent", "gentle",
		"happy", "jolly", "keen", "lucid", "merry", "nimble", "quiet", "proud", "sharp", "steady",
		"swift", "tender", "vivid", "wise", "zealous", "amazing", "busy", "cool", "dreamy", "epic"}
	nameRight = []string{"albatross", "beacon", "buoy", "capstan", "compass", "cutter", "dinghy",
		"ferry", "galleon", "harbor", "jetty", "keel", "lighthouse", "mooring", "oar", "pier",
		"quay", "rudder", "sextant", "schooner", "skiff", "tide", "wharf", "anchor", "bollard",
		"hull", "mast", "sloop"}
)

func randomName() string {
	pick := func(list []string) string {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
		if err != nil {
			panic(err)
		}
		return list[n.Int64()]
	}
	return pick(nameLeft) + "_" + pick(nameRight)
}

// reserveName claims a name for id, or picks a free random one when name is
// empty. The caller must release it with releaseName if creation fails.
func (s *Service) reserveName(name, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		for i := 0; ; i++ {
			name = randomName()
			if i > 10 {
				name = fmt.Sprintf("%s%d", name, i)
			}
			if _, used := s.names[name]; !used {
				break
			}
		}
	} else {
		if err := checkName(name); err != nil {
			return "", err
		}
		if other, used := s.names[name]; used {
			return "", fmt.Errorf("the container name %q is already in use by container %s; remove or rename that container to reuse the name: %w", name, other[:12], errdefs.ErrConflict)
		}
	}
	s.names[name] = id
	return name, nil
}

func (s *Service) releaseName(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[name] == id {
		delete(s.names, name)
	}
}
