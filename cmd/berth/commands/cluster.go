package commands

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/cluster"
)

// clusterJoinPort is the join endpoint's default port (engine/cluster's
// DefaultJoinPort; the CLI links no engine).
const clusterJoinPort = 2377

// withCluster is withArgs for the cluster and node commands.
func withCluster(env *Env, min, max int, fn func(ctx context.Context, c *cli.Context, api api.Cluster) error) cli.ActionFunc {
	return withArgs(env, min, max, func(ctx context.Context, c *cli.Context, cl Client) error {
		return fn(ctx, c, cl.Cluster())
	})
}

// ClusterCommand is `berth cluster` and its subcommands.
func ClusterCommand(env *Env) *cli.Command {
	return Group("cluster", "Manage the cluster of berthd nodes",
		ClusterInit(env), ClusterJoin(env), ClusterLeave(env), ClusterInfo(env), ClusterJoinToken(env))
}

// NodeCommand is `berth node` and its subcommands.
func NodeCommand(env *Env) *cli.Command {
	return Group("node", "Manage the cluster's nodes", NodeLs(env), NodeInspect(env), NodeUpdate(env), NodeRm(env))
}

// joinHint is the command a new node runs to join.
func joinHint(token, addr string) string {
	return fmt.Sprintf("    berth cluster join --token %s %s\n", token, net.JoinHostPort(addr, strconv.Itoa(clusterJoinPort)))
}

// ClusterInit is `berth cluster init`.
func ClusterInit(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "Found a cluster with this node as its first member",
		UsageText: "berth cluster init [OPTIONS]",
		Description: `This node becomes the cluster's first etcd member (berthd runs berth-etcd as
a supervised child), or uses an external etcd given with --cluster-store.
The next two nodes that join run etcd members too; later ones are clients.
Nodes talk mutual TLS with certificates of the cluster's own CA.

Ports on the advertised address: 2377 (join), 2379 (etcd clients), 2380
(etcd peers), all TCP.

Examples:
   berth cluster init --advertise-addr 10.0.0.1
   berth cluster init --advertise-addr 10.0.0.1 --cluster-store etcd://10.0.0.9:2379 \
      --cluster-store-cacert ca.pem --cluster-store-cert c.pem --cluster-store-key k.pem`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "advertise-addr", Usage: "IP address other nodes reach this one at (default: of the default route)"},
			&cli.StringFlag{Name: "node-name", Usage: "the node's name in listings (default: the hostname)"},
			&cli.StringFlag{Name: "cluster-store", Usage: "external etcd: etcd://host:port[,host:port...]"},
			&cli.StringFlag{Name: "cluster-store-cacert", Usage: "CA of the external etcd's certificates"},
			&cli.StringFlag{Name: "cluster-store-cert", Usage: "client certificate for the external etcd"},
			&cli.StringFlag{Name: "cluster-store-key", Usage: "client key for the external etcd"},
		},
		Action: withCluster(env, 0, 0, func(ctx context.Context, c *cli.Context, api api.Cluster) error {
			info, err := api.Init(ctx, cluster.InitOptions{
				AdvertiseAddr: c.String("advertise-addr"), NodeName: c.String("node-name"),
				Store: c.String("cluster-store"), StoreCA: absPath(c.String("cluster-store-cacert")),
				StoreCert: absPath(c.String("cluster-store-cert")), StoreKey: absPath(c.String("cluster-store-key")),
			})
			if err != nil {
				return err
			}
			tok, err := api.JoinToken(ctx, false)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Cluster initialized: current node (%s) is now a member.\n\nTo add a node to this cluster, run the following command:\n\n%s\n", info.NodeID, joinHint(tok, info.NodeAddr))
			return nil
		}),
	}
}

// ClusterJoin is `berth cluster join`.
func ClusterJoin(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "Join a cluster",
		UsageText: "berth cluster join [OPTIONS] --token TOKEN HOST[:PORT]",
		Description: `Joins the cluster of the node at HOST (port 2377 by default) with the token
` + "`berth cluster join-token`" + ` prints there. The token pins the cluster's CA: the
node trusts no other join endpoint.

Example:
   berth cluster join --token BTKN-1-... 10.0.0.1:2377`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "token", Usage: "the cluster's join token", Required: true},
			&cli.StringFlag{Name: "advertise-addr", Usage: "IP address other nodes reach this one at (default: of the route to HOST)"},
			&cli.StringFlag{Name: "node-name", Usage: "the node's name in listings (default: the hostname)"},
		},
		Action: withCluster(env, 1, 1, func(ctx context.Context, c *cli.Context, api api.Cluster) error {
			info, err := api.Join(ctx, cluster.JoinOptions{
				RemoteAddr: c.Args().First(), Token: c.String("token"),
				AdvertiseAddr: c.String("advertise-addr"), NodeName: c.String("node-name"),
			})
			if err != nil {
				return err
			}
			role := "a store client"
			if info.EtcdMember {
				role = "an etcd member"
			}
			fmt.Fprintf(env.Stdout, "This node joined a cluster as %s.\n", role)
			return nil
		}),
	}
}

// ClusterLeave is `berth cluster leave`.
func ClusterLeave(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "leave",
		Usage:     "Leave the cluster",
		UsageText: "berth cluster leave [OPTIONS]",
		Description: `The node removes itself from the cluster (its record, its etcd member) and
forgets its certificates. The node running the last etcd member while other
nodes remain needs --force: the cluster's store goes with it.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "leave even as the last etcd member, or when the store does not answer"},
		},
		Action: withCluster(env, 0, 0, func(ctx context.Context, c *cli.Context, api api.Cluster) error {
			if err := api.Leave(ctx, c.Bool("force")); err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, "Node left the cluster.")
			return nil
		}),
	}
}

// ClusterJoinToken is `berth cluster join-token`.
func ClusterJoinToken(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "join-token",
		Usage:     "Print or rotate the join token",
		UsageText: "berth cluster join-token [OPTIONS]",
		Description: `With --rotate the old token stops working at once; nodes already in the
cluster are not affected.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "rotate", Usage: "replace the token with a new one"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print the token"},
		},
		Action: withCluster(env, 0, 0, func(ctx context.Context, c *cli.Context, api api.Cluster) error {
			tok, err := api.JoinToken(ctx, c.Bool("rotate"))
			if err != nil {
				return err
			}
			if c.Bool("quiet") {
				fmt.Fprintln(env.Stdout, tok)
				return nil
			}
			info, err := api.Info(ctx)
			if err != nil {
				return err
			}
			if c.Bool("rotate") {
				fmt.Fprint(env.Stdout, "Successfully rotated the join token.\n\n")
			}
			fmt.Fprintf(env.Stdout, "To add a node to this cluster, run the following command:\n\n%s\n", joinHint(tok, info.NodeAddr))
			return nil
		}),
	}
}

// ClusterInfo is `berth cluster info`.
func ClusterInfo(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "Display this node's view of its cluster",
		UsageText: "berth cluster info [OPTIONS]",
		Description: `Format fields: .State .ClusterID .NodeID .NodeAddr .CreatedAt .Store
.StoreEndpoints .EtcdMember .Nodes .NodesReady .Members .HeartbeatTTL .CACertHash`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template, or 'json'"},
		},
		Action: withCluster(env, 0, 0, func(ctx context.Context, c *cli.Context, api api.Cluster) error {
			info, err := api.Info(ctx)
			if err != nil {
				return err
			}
			if s := c.String("format"); s != "" {
				f, err := formatter.Parse(s, "")
				if err != nil {
					return &ExitError{Code: 1, Err: err}
				}
				return f.Write(env.Stdout, nil, []any{info})
			}
			w := env.Stdout
			fmt.Fprintf(w, "Cluster: %s\n", info.State)
			if info.State != "active" {
				return nil
			}
			fmt.Fprintf(w, " Cluster ID: %s\n Created: %s\n Node ID: %s\n Node Address: %s\n", info.ClusterID,
				info.CreatedAt.Local().Format(time.RFC3339), info.NodeID, info.NodeAddr)
			fmt.Fprintf(w, " Nodes: %d (%d ready)\n", info.Nodes, info.NodesReady)
			if info.Store == "embedded" {
				fmt.Fprintf(w, " Store: embedded etcd, %d members (this node: %s)\n", info.Members, map[bool]string{true: "member", false: "client"}[info.EtcdMember])
			} else {
				fmt.Fprintf(w, " Store: external etcd\n")
			}
			fmt.Fprintf(w, " Store Endpoints: %s\n Heartbeat TTL: %s\n CA Cert Hash: %s\n", strings.Join(info.StoreEndpoints, ", "), info.HeartbeatTTL, info.CACertHash)
			return nil
		}),
	}
}

const defaultNodeFormat = `table {{.ID}} {{if .Self}}*{{else}} {{end}}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.StoreStatus}}\t{{.EngineVersion}}`

var nodeHeaders = map[string]string{
	"ID": "ID", "Hostname": "HOSTNAME", "Status": "STATUS", "Availability": "AVAILABILITY",
	"StoreStatus": "STORE STATUS", "ManagerStatus": "MANAGER STATUS", "EngineVersion": "ENGINE VERSION",
	"Addr": "ADDRESS", "Self": "SELF",
}

// nodeRow is what a `node ls --format` template sees: Docker's fields
// (ManagerStatus is StoreStatus), capitalised as Docker prints them.
type nodeRow struct{ n cluster.Node }

func (r nodeRow) ID() string            { return r.n.ID }
func (r nodeRow) Self() bool            { return r.n.Self }
func (r nodeRow) Hostname() string      { return r.n.Hostname }
func (r nodeRow) Addr() string          { return r.n.Addr }
func (r nodeRow) Status() string        { return capitalize(r.n.Status) }
func (r nodeRow) Availability() string  { return capitalize(r.n.Availability) }
func (r nodeRow) StoreStatus() string   { return capitalize(r.n.StoreRole) }
func (r nodeRow) ManagerStatus() string { return r.StoreStatus() }
func (r nodeRow) EngineVersion() string { return r.n.EngineVersion }
func (r nodeRow) Label(k string) string { return r.n.Labels[k] }
func (r nodeRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]string{
		"ID": r.ID(), "Hostname": r.Hostname(), "Status": r.Status(), "Availability": r.Availability(),
		"ManagerStatus": r.ManagerStatus(), "EngineVersion": r.EngineVersion(), "Self": strconv.FormatBool(r.Self()),
		"TLSStatus": "Ready", "Addr": r.Addr(),
	})
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// NodeLs is `berth node ls`.
func NodeLs(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Aliases:   []string{"list"},
		Usage:     "List the cluster's nodes",
		UsageText: "berth node ls [OPTIONS]",
		Description: `STATUS is Ready while the node heartbeats, Down once its lease expired (within
cluster_node_timeout, 5s by default). STORE STATUS is the node's etcd role
(Leader, Member, Learner; empty for store clients). * marks this node.

Format fields: .ID .Self .Hostname .Addr .Status .Availability .StoreStatus
.ManagerStatus .EngineVersion (.Label "key")

Examples:
   berth node ls
   berth node ls -q
   berth node ls --format '{{.Hostname}} {{.Status}}'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print node IDs"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE', or 'json'"},
		},
		Action: withCluster(env, 0, 0, func(ctx context.Context, c *cli.Context, api api.Cluster) error {
			format := c.String("format")
			if c.Bool("quiet") {
				format = "{{.ID}}"
			}
			f, err := formatter.Parse(format, defaultNodeFormat)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			nodes, err := api.NodeList(ctx)
			if err != nil {
				return err
			}
			rows := make([]any, len(nodes))
			for i, n := range nodes {
				rows[i] = nodeRow{n}
			}
			return f.Write(env.Stdout, nodeHeaders, rows)
		}),
	}
}

// NodeInspect is `berth node inspect`.
func NodeInspect(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "Display detailed information on one or more nodes",
		UsageText: "berth node inspect [OPTIONS] NODE [NODE...]",
		Description: `NODE is an ID, a unique ID prefix, a hostname, or "self".

Examples:
   berth node inspect self
   berth node inspect -f '{{.Status}}' h2`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template applied to each node"},
		},
		Action: withCluster(env, 1, -1, func(ctx context.Context, c *cli.Context, api api.Cluster) error {
			return inspectEach(c, env, 1, true, func(ref string) (any, error) {
				return api.NodeInspect(ctx, selfRef(ctx, api, ref))
			})
		}),
	}
}

// selfRef resolves "self" to this node's ID, as Docker does.
func selfRef(ctx context.Context, api api.Cluster, ref string) string {
	if ref != "self" {
		return ref
	}
	if info, err := api.Info(ctx); err == nil && info.NodeID != "" {
		return info.NodeID
	}
	return ref
}

// NodeUpdate is `berth node update`.
func NodeUpdate(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "Update a node",
		UsageText: "berth node update [OPTIONS] NODE",
		Description: `Availability: active (takes new work), pause (keeps what it runs, takes no
new work), drain (its work is moved away). It is recorded for the schedulers
that build on the cluster; the control plane itself does not act on it.

Examples:
   berth node update --availability drain h2
   berth node update --label-add zone=a h2`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "availability", Usage: "active, pause or drain"},
			&cli.StringSliceFlag{Name: "label-add", Usage: "add or change a label (KEY=VALUE)"},
			&cli.StringSliceFlag{Name: "label-rm", Usage: "remove a label"},
		},
		Action: withCluster(env, 1, 1, func(ctx context.Context, c *cli.Context, api api.Cluster) error {
			add, err := opts.Labels(c.StringSlice("label-add"))
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			ref := c.Args().First()
			if err := api.NodeUpdate(ctx, selfRef(ctx, api, ref), cluster.NodeUpdate{
				Availability: c.String("availability"), LabelAdd: add, LabelRm: c.StringSlice("label-rm"),
			}); err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, ref)
			return nil
		}),
	}
}

// NodeRm is `berth node rm`.
func NodeRm(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "Remove one or more nodes from the cluster",
		UsageText: "berth node rm [OPTIONS] NODE [NODE...]",
		Description: `Removes a node that is down (its record and its etcd member). A ready node
should leave with ` + "`berth cluster leave`" + ` instead; --force removes it anyway.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove a ready node too"},
		},
		Action: withCluster(env, 1, -1, func(ctx context.Context, c *cli.Context, api api.Cluster) error {
			return forEach(c, env, c.Args().Slice(), func(n string) error { return api.NodeRemove(ctx, n, c.Bool("force")) })
		}),
	}
}

// absPath makes a file flag absolute: berthd reads it, from its own
// working directory.
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
