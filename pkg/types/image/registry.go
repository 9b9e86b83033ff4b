package image

// AuthConfig is a user's credentials for one registry, as the CLI reads them
// from its Docker config file.
type AuthConfig struct {
	// ServerAddress is the registry ("127.0.0.1:5000", "docker.io").
	ServerAddress string
	Username      string
	Password      string
	// IdentityToken is an OAuth refresh token (used instead of the password).
	IdentityToken string
}
