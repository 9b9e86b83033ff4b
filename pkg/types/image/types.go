package image

import (
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/pkg/types/container"
)

// Image is the full view of one image, as `berth image inspect` shows it. An
// image is identified by its config digest (ID); every name (tag) that points
// at content with that config is one of its RepoTags.
type Image struct {
	// ID is the config digest, "sha256:<64 hex>" (Docker's image ID).
	ID string `json:"Id"`
	// RepoTags are the image's names in Docker's familiar form
	// ("busybox:latest"), sorted. Empty for a dangling image.
	RepoTags []string `json:"RepoTags"`
	// RepoDigests are "repo@sha256:<manifest digest>" for images that came
	// from a registry (their content records a distribution source).
	RepoDigests []string `json:"RepoDigests"`
	// Created is the creation time recorded in the image config (zero when
	// the config has none).
	Created      time.Time `json:"Created"`
	Author       string    `json:"Author,omitempty"`
	Architecture string    `json:"Architecture"`
	Variant      string    `json:"Variant,omitempty"`
	Os           string    `json:"Os"`
	// Size is the unpacked size in bytes (the sum of the image's snapshot
	// layers in the service's snapshotter) when the image is unpacked, else
	// the sum of its compressed layer blobs.
	Size int64 `json:"Size"`
	// Config is the runtime configuration from the image config.
	Config Config `json:"Config"`
	// RootFS lists the layers' uncompressed digests (diff IDs), bottom first.
	RootFS RootFS `json:"RootFS"`
	// History is the config's build history, oldest first.
	History []History `json:"History,omitempty"`
	// Names are the full containerd image names pointing at this image
	// ("docker.io/library/busybox:latest"), sorted; a dangling image has a
	// single internal name (see IsDangling).
	Names []string `json:"Names"`
	// Target is the digest of the manifest (or index) the first name points at.
	Target string `json:"Target"`
}

// Config is the runtime part of an image config, with Docker's field names.
type Config struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

// RootFS lists an image's layers by diff ID.
type RootFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

// History is one entry of an image's build history.
type History struct {
	Created    time.Time `json:"Created"`
	CreatedBy  string    `json:"CreatedBy,omitempty"`
	Author     string    `json:"Author,omitempty"`
	Comment    string    `json:"Comment,omitempty"`
	EmptyLayer bool      `json:"EmptyLayer,omitempty"`
}

// Summary is one row of List (`berth images`).
type Summary struct {
	ID          string            `json:"Id"`
	RepoTags    []string          `json:"RepoTags"`
	RepoDigests []string          `json:"RepoDigests"`
	Created     time.Time         `json:"Created"`
	Size        int64             `json:"Size"` // as Image.Size
	Labels      map[string]string `json:"Labels"`
}

// ListOptions selects images for List.
type ListOptions struct {
	// All is accepted for Docker compatibility. berth keeps no intermediate
	// build images, so it changes nothing: dangling images are always listed
	// (filter them with dangling=false).
	All bool
	// Filters use Docker's keys: dangling (true|false), reference (a glob on
	// the familiar name, "busybox", "busybox:1.*", "*/app:*"), label (key or
	// key=value, every one must match), before and since (an image
	// reference: images created before/after that image). Several
	// reference values match any of them; several label values must all
	// match; several before/since values keep the strictest bound. Unknown
	// keys and bad values are errdefs.ErrInvalidArgument.
	Filters map[string][]string
}

// ImportOptions configure Import of a root file system tar.
type ImportOptions struct {
	// Ref names the new image ("app", "app:v1", "registry:5000/app:v1").
	// Empty makes a dangling (untagged) image.
	Ref string
	// Message is recorded as the history comment (default "Imported from -").
	Message string
	// Platform is the image's platform ("linux/arm64"; default the
	// engine's): any architecture of the engine's operating system.
	Platform string
}

// RemoveOptions configure Remove.
type RemoveOptions struct {
	// Force removes an image that containers use, and removes an image by
	// ID even when it is tagged in several repositories.
	Force bool
}

// DeleteResponse is one line of Remove's report, as Docker prints it:
// exactly one of Untagged (a familiar name) and Deleted (an image ID) is set.
type DeleteResponse struct {
	Untagged string `json:"Untagged,omitempty"`
	Deleted  string `json:"Deleted,omitempty"`
}

// Resolved is what the container service needs to create a container from
// an image: see Service.ResolveForRun.
type Resolved struct {
	// Name is the containerd image name the reference resolved to
	// (docker.io/library/busybox:latest, or the internal dangling name).
	Name string
	// ID is the config digest (Docker's image ID).
	ID string
	// Config is the parsed image config.
	Config ocispec.Image
	// ChainID is the snapshot (in the service's snapshotter) a container's
	// writable layer is prepared on; "" for an image without layers.
	ChainID string
	// Healthcheck is the image's Docker HEALTHCHECK, nil if it has none.
	Healthcheck *container.HealthConfig
}

// CommitRequest makes an image of a container (`berth commit`): its image
// (Parent) with one more layer, the container's changes.
type CommitRequest struct {
	// Parent is the ID of the image the container was made from.
	Parent string
	// Layer is the container's changes as a layer blob already in the
	// content store; DiffID is the digest of its uncompressed tar.
	Layer  ocispec.Descriptor
	DiffID string
	// Config is the new image's runtime configuration, Healthcheck and
	// OnBuild its Docker-only parts.
	Config      ocispec.ImageConfig
	Healthcheck *container.HealthConfig
	OnBuild     []string
	// Ref names the image (repository[:tag]); "" leaves it dangling.
	Ref string
	// Comment, Author and CreatedBy go to the image's new history entry
	// (Author also to the config's author).
	Comment, Author, CreatedBy string
}
