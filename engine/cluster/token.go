package cluster

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// A join token is "BTKN-1-<ca-hash>-<secret>": the SHA-256 of the cluster
// CA's certificate (the joining node pins the join endpoint's CA to it) and
// a random secret whose SHA-256 the store keeps (KeyJoinToken). Rotating
// the token replaces the secret; the CA hash stays.
const tokenPrefix = "BTKN-1-"

// Token is a parsed join token.
type Token struct {
	CAHash string
	Secret string
}

func (t Token) String() string { return tokenPrefix + t.CAHash + "-" + t.Secret }

// NewToken makes a token with a fresh secret for the CA of hash caHash.
func NewToken(caHash string) Token {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return Token{CAHash: caHash, Secret: hex.EncodeToString(b)}
}

// ParseToken checks a token's shape.
func ParseToken(s string) (Token, error) {
	bad := fmt.Errorf("invalid join token %q: expected BTKN-1-<64 hex>-<32 hex>, as printed by `berth cluster join-token` on a cluster node", s)
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), tokenPrefix)
	if !ok {
		return Token{}, bad
	}
	hash, secret, ok := strings.Cut(rest, "-")
	if !ok || len(hash) != 64 || len(secret) != 32 || !isHex(hash) || !isHex(secret) {
		return Token{}, bad
	}
	return Token{CAHash: hash, Secret: secret}, nil
}

// SecretHash is what the store keeps of a secret.
func SecretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// secretMatches compares a presented secret with the stored hash in
// constant time.
func secretMatches(secret, storedHash string) bool {
	return subtle.ConstantTimeCompare([]byte(SecretHash(secret)), []byte(storedHash)) == 1
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
