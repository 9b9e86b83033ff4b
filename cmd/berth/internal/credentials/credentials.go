// Package credentials reads and writes registry credentials the way the
// Docker CLI does: the config file (~/.docker/config.json, or
// $DOCKER_CONFIG/config.json) with its "auths" entries (base64
// "user:password", identity tokens), and the credential helper protocol of
// "credsStore" and "credHelpers": a program docker-credential-<name> run
// with the action (get, store, erase) as its argument, JSON on stdin and
// stdout. Keys of the file that berth does not know are kept as they are.
package credentials

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthproject/berth/pkg/atomicfile"
)

// Auth is one registry's credentials.
type Auth struct {
	// ServerAddress is the key the credentials are stored under
	// ("127.0.0.1:5000", "https://index.docker.io/v1/").
	ServerAddress string
	Username      string
	Password      string
	// IdentityToken is an OAuth refresh token (helpers store it with the
	// username "<token>").
	IdentityToken string
}

// DockerHubKey is the config key Docker uses for Docker Hub.
const DockerHubKey = "https://index.docker.io/v1/"

// Key is the config key for a registry host as the user names it: Docker
// Hub's names map to DockerHubKey, any other host is kept without a scheme
// or a trailing slash.
func Key(server string) string {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/")
	switch s {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io", "index.docker.io/v1":
		return DockerHubKey
	}
	return s
}

// Store is a Docker config file.
type Store struct {
	// Path of config.json.
	Path string
	// HelperTimeout bounds a credential helper run (default 30 s).
	HelperTimeout time.Duration
}

// DefaultPath is $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func DefaultPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".docker", "config.json")
}

// file is the part of config.json berth reads; raw keeps every key.
type file struct {
	raw         map[string]json.RawMessage
	auths       map[string]map[string]json.RawMessage
	credsStore  string
	credHelpers map[string]string
}

func (s *Store) load() (*file, error) {
	f := &file{raw: map[string]json.RawMessage{}, auths: map[string]map[string]json.RawMessage{}}
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return f, nil
	}
	if err := json.Unmarshal(b, &f.raw); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	if a, ok := f.raw["auths"]; ok {
		if err := json.Unmarshal(a, &f.auths); err != nil {
			return nil, fmt.Errorf("%s: auths: %w", s.Path, err)
		}
	}
	if a, ok := f.raw["credsStore"]; ok {
		_ = json.Unmarshal(a, &f.credsStore)
	}
	if a, ok := f.raw["credHelpers"]; ok {
		_ = json.Unmarshal(a, &f.credHelpers)
	}
	return f, nil
}

// save writes the file atomically with mode 0600.
func (s *Store) save(f *file) error {
	a, err := json.Marshal(f.auths)
	if err != nil {
		return err
	}
	f.raw["auths"] = a
	b, err := json.MarshalIndent(f.raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(s.Path, append(b, '\n'), 0o600)
}

// helperFor is the credential helper for key ("" for the file itself).
func (f *file) helperFor(key string) string {
	if h, ok := f.credHelpers[key]; ok {
		return h
	}
	if h, ok := f.credHelpers[strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")]; ok {
		return h
	}
	return f.credsStore
}

// Get returns the credentials stored for server; ok is false when there
// are none.
func (s *Store) Get(ctx context.Context, server string) (auth Auth, ok bool, err error) {
	key := Key(server)
	f, err := s.load()
	if err != nil {
		return Auth{}, false, err
	}
	if h := f.helperFor(key); h != "" {
		return s.helperGet(ctx, h, key)
	}
	e, found := f.auths[key]
	if !found {
		// Entries written by other tools may carry a scheme.
		for k, v := range f.auths {
			if Key(k) == key {
				e, found = v, true
				break
			}
		}
	}
	if !found {
		return Auth{}, false, nil
	}
	auth = Auth{ServerAddress: key}
	var enc string
	if raw, ok := e["auth"]; ok {
		_ = json.Unmarshal(raw, &enc)
	}
	if enc != "" {
		dec, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return Auth{}, false, fmt.Errorf("%s: auth of %s: %w", s.Path, key, err)
		}
		u, p, ok := strings.Cut(string(dec), ":")
		if !ok {
			return Auth{}, false, fmt.Errorf("%s: auth of %s is not user:password", s.Path, key)
		}
		auth.Username, auth.Password = u, p
	}
	if raw, ok := e["identitytoken"]; ok {
		_ = json.Unmarshal(raw, &auth.IdentityToken)
	}
	return auth, auth.Username != "" || auth.IdentityToken != "", nil
}

// Save stores auth under its server's key, in the registry's credential
// helper if the file names one (then the file keeps an empty entry, as
// Docker's does), else in the file.
func (s *Store) Save(ctx context.Context, auth Auth) error {
	key := Key(auth.ServerAddress)
	f, err := s.load()
	if err != nil {
		return err
	}
	if h := f.helperFor(key); h != "" {
		if err := s.helperStore(ctx, h, key, auth); err != nil {
			return err
		}
		if f.credHelpers[key] == "" {
			f.auths[key] = map[string]json.RawMessage{}
		}
		return s.save(f)
	}
	e := map[string]json.RawMessage{}
	enc, _ := json.Marshal(base64.StdEncoding.EncodeToString([]byte(auth.Username + ":" + auth.Password)))
	e["auth"] = enc
	if auth.IdentityToken != "" {
		tok, _ := json.Marshal(auth.IdentityToken)
		e["identitytoken"] = tok
	}
	f.auths[key] = e
	return s.save(f)
}

// Erase removes the credentials of server. found is false when there were
// none in the file (a helper's erase is tried all the same).
func (s *Store) Erase(ctx context.Context, server string) (found bool, err error) {
	key := Key(server)
	f, err := s.load()
	if err != nil {
		return false, err
	}
	for k := range f.auths {
		if Key(k) == key {
			delete(f.auths, k)
			found = true
		}
	}
	if h := f.helperFor(key); h != "" {
		if err := s.helperErase(ctx, h, key); err != nil {
			return found, err
		}
		found = true
	}
	if !found {
		return false, nil
	}
	return true, s.save(f)
}

// helperMessage is the JSON of the credential helper protocol.
type helperMessage struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

// errNotFound is what helpers print when they hold nothing for a server.
const helperNotFound = "credentials not found in native keychain"

func (s *Store) runHelper(ctx context.Context, helper, action string, stdin []byte) ([]byte, error) {
	t := s.HelperTimeout
	if t <= 0 {
		t = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	bin := "docker-credential-" + helper
	cmd := exec.CommandContext(ctx, bin, action)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String() + " " + errb.String())
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("credential helper %s not found in $PATH (named in %s)", bin, s.Path)
		}
		return nil, &helperError{helper: bin, action: action, msg: msg, err: err}
	}
	return out.Bytes(), nil
}

type helperError struct {
	helper, action, msg string
	err                 error
}

func (e *helperError) Error() string {
	return fmt.Sprintf("credential helper %s %s: %v: %s", e.helper, e.action, e.err, e.msg)
}

func (s *Store) helperGet(ctx context.Context, helper, key string) (Auth, bool, error) {
	out, err := s.runHelper(ctx, helper, "get", []byte(key))
	if err != nil {
		var he *helperError
		if errors.As(err, &he) && strings.Contains(he.msg, helperNotFound) {
			return Auth{}, false, nil
		}
		return Auth{}, false, err
	}
	var m helperMessage
	if err := json.Unmarshal(out, &m); err != nil {
		return Auth{}, false, fmt.Errorf("credential helper docker-credential-%s get: %w", helper, err)
	}
	a := Auth{ServerAddress: key, Username: m.Username, Password: m.Secret}
	if m.Username == "<token>" {
		a = Auth{ServerAddress: key, IdentityToken: m.Secret}
	}
	return a, a.Username != "" || a.IdentityToken != "", nil
}

func (s *Store) helperStore(ctx context.Context, helper, key string, a Auth) error {
	m := helperMessage{ServerURL: key, Username: a.Username, Secret: a.Password}
	if a.IdentityToken != "" {
		m.Username, m.Secret = "<token>", a.IdentityToken
	}
	b, _ := json.Marshal(m)
	_, err := s.runHelper(ctx, helper, "store", b)
	return err
}

func (s *Store) helperErase(ctx context.Context, helper, key string) error {
	_, err := s.runHelper(ctx, helper, "erase", []byte(key))
	var he *helperError
	if errors.As(err, &he) && strings.Contains(he.msg, helperNotFound) {
		return nil
	}
	return err
}
