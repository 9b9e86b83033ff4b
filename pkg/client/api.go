package client

import "github.com/berthproject/berth/pkg/api"

// The client serves the contract in pkg/api: the container and system
// nouns on *Client itself, the others on its per-noun views, so that the
// method names are the engine's (Images().List, not ImageList).
var (
	_ api.Containers = (*Client)(nil)
	_ api.System     = (*Client)(nil)
	_ api.Images     = (*imageClient)(nil)
	_ api.Networks   = (*networkClient)(nil)
	_ api.Volumes    = (*volumeClient)(nil)
	_ api.Cluster    = (*clusterClient)(nil)
	_ api.Builds     = (*buildClient)(nil)
	_ api.Services   = (*serviceClient)(nil)
)

// Services is the service noun (pkg/api.Services) over this connection.
func (c *Client) Services() api.Services { return (*serviceClient)(c) }

// Builds is the builder (pkg/api.Builds) over this connection.
func (c *Client) Builds() api.Builds { return (*buildClient)(c) }

// Images is the image noun (pkg/api.Images) over this connection.
func (c *Client) Images() api.Images { return (*imageClient)(c) }

// Networks is the network noun (pkg/api.Networks) over this connection.
func (c *Client) Networks() api.Networks { return (*networkClient)(c) }

// Volumes is the volume noun (pkg/api.Volumes) over this connection.
func (c *Client) Volumes() api.Volumes { return (*volumeClient)(c) }

// Cluster is the cluster noun (pkg/api.Cluster) over this connection.
func (c *Client) Cluster() api.Cluster { return (*clusterClient)(c) }

// The views are the connection under another type: each has only its
// noun's methods, so that none can borrow a container verb of the same
// shape and the compile-time checks above stay exact.
type (
	imageClient   Client
	networkClient Client
	volumeClient  Client
	clusterClient Client
	buildClient   Client
	serviceClient Client
)
