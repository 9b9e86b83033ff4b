// Package service holds the types of berth's replicated services on a
// cluster (`berth service ...`): a service's desired state and the tasks
// that make it real. They are modelled field for field on Docker swarm's
// (github.com/moby/moby/api/types/swarm) and marshal to the same JSON
// names, so the Docker API's /services and /tasks are a mechanical
// translation. What berth adds is marked "berth:".
//
// The records live in the cluster store (keys: engine/cluster/keys.go,
// docs/services.md): the leader writes services' endpoints and tasks'
// desired state and placement; each node writes the status of its tasks.
package service

import (
	"time"

	"github.com/berthproject/berth/pkg/types/container"
)

// Version is a record's version (Docker's swarm.Version): an update must
// name the version it read (optimistic concurrency). berth uses the etcd
// ModRevision of the record.
type Version struct {
	Index uint64 `json:"Index"`
}

// Meta is the common metadata of services and tasks (Docker's swarm.Meta).
type Meta struct {
	Version   Version   `json:"Version"`
	CreatedAt time.Time `json:"CreatedAt"`
	UpdatedAt time.Time `json:"UpdatedAt"`
}

// Service is a service as inspect shows it (Docker's swarm.Service).
type Service struct {
	ID string `json:"ID"`
	Meta
	Spec ServiceSpec `json:"Spec"`
	// PreviousSpec is the spec before the last update (what `service
	// rollback` returns to); nil when there was no update.
	PreviousSpec *ServiceSpec  `json:"PreviousSpec,omitempty"`
	Endpoint     Endpoint      `json:"Endpoint"`
	UpdateStatus *UpdateStatus `json:"UpdateStatus,omitempty"`
	// ServiceStatus counts running and desired tasks (Docker fills it on
	// `service ls` with status=true); computed when read, never stored.
	ServiceStatus *ServiceStatus `json:"ServiceStatus,omitempty"`
}

// ServiceStatus is Docker's swarm.ServiceStatus.
type ServiceStatus struct {
	RunningTasks uint64 `json:"RunningTasks"`
	DesiredTasks uint64 `json:"DesiredTasks"`
}

// ServiceSpec is what a user asks for (Docker's swarm.ServiceSpec; Name
// and Labels are Docker's Annotations, inlined in JSON as there).
type ServiceSpec struct {
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels,omitempty"`

	TaskTemplate TaskSpec    `json:"TaskTemplate"`
	Mode         ServiceMode `json:"Mode"`
	// UpdateConfig and RollbackConfig: nil takes Docker's defaults
	// (parallelism 1, no delay, failure action pause, stop-first,
	// monitor 5 s).
	UpdateConfig   *UpdateConfig `json:"UpdateConfig,omitempty"`
	RollbackConfig *UpdateConfig `json:"RollbackConfig,omitempty"`
	EndpointSpec   *EndpointSpec `json:"EndpointSpec,omitempty"`
}

// ServiceMode is replicated (Replicated set) or global (Global set).
type ServiceMode struct {
	Replicated *ReplicatedService `json:"Replicated,omitempty"`
	Global     *GlobalService     `json:"Global,omitempty"`
}

// ReplicatedService runs Replicas tasks spread over the nodes.
type ReplicatedService struct {
	Replicas uint64 `json:"Replicas"`
}

// GlobalService runs one task on every eligible node.
type GlobalService struct{}

// Update failure actions and orders (Docker's).
const (
	UpdateFailureActionPause    = "pause"
	UpdateFailureActionContinue = "continue"
	UpdateFailureActionRollback = "rollback"

	UpdateOrderStopFirst  = "stop-first"
	UpdateOrderStartFirst = "start-first"
)

// UpdateConfig is how tasks are replaced on update (or rollback).
type UpdateConfig struct {
	// Parallelism is how many tasks are replaced at a time (0: all).
	Parallelism uint64 `json:"Parallelism"`
	// Delay between batches.
	Delay time.Duration `json:"Delay,omitempty"`
	// FailureAction: pause, continue or rollback (rollback config: pause
	// or continue).
	FailureAction string `json:"FailureAction,omitempty"`
	// Monitor is how long a new task is watched for failure after it
	// runs (and is healthy, when it has a healthcheck).
	Monitor time.Duration `json:"Monitor,omitempty"`
	// MaxFailureRatio is the share of failed tasks tolerated.
	MaxFailureRatio float32 `json:"MaxFailureRatio,omitempty"`
	// Order: stop-first (default) or start-first.
	Order string `json:"Order,omitempty"`
}

// Update states (Docker's swarm.UpdateState).
const (
	UpdateStateUpdating          = "updating"
	UpdateStatePaused            = "paused"
	UpdateStateCompleted         = "completed"
	UpdateStateRollbackStarted   = "rollback_started"
	UpdateStateRollbackPaused    = "rollback_paused"
	UpdateStateRollbackCompleted = "rollback_completed"
)

// UpdateStatus is the progress of the last update or rollback.
type UpdateStatus struct {
	State       string     `json:"State,omitempty"`
	StartedAt   *time.Time `json:"StartedAt,omitempty"`
	CompletedAt *time.Time `json:"CompletedAt,omitempty"`
	Message     string     `json:"Message,omitempty"`
}

// Endpoint resolution modes.
const (
	ResolutionModeVIP   = "vip"
	ResolutionModeDNSRR = "dnsrr"
)

// Port protocols and publish modes (Docker's).
const (
	PortProtocolTCP = "tcp"
	PortProtocolUDP = "udp"

	PortPublishModeIngress = "ingress" // the routing mesh: every node
	PortPublishModeHost    = "host"    // only the node running the task
)

// EndpointSpec is how the service is reached.
type EndpointSpec struct {
	// Mode: vip (default: a virtual IP balanced over healthy tasks) or
	// dnsrr (the service name resolves to the tasks' addresses).
	Mode  string       `json:"Mode,omitempty"`
	Ports []PortConfig `json:"Ports,omitempty"`
}

// PortConfig is one published port.
type PortConfig struct {
	Name     string `json:"Name,omitempty"`
	Protocol string `json:"Protocol,omitempty"`
	// TargetPort is the port inside the tasks' containers.
	TargetPort uint32 `json:"TargetPort,omitempty"`
	// PublishedPort is the port on the nodes (0 on create: the leader
	// picks one from 30000-32767, as swarm).
	PublishedPort uint32 `json:"PublishedPort,omitempty"`
	// PublishMode: ingress (default) or host.
	PublishMode string `json:"PublishMode,omitempty"`
}

// Endpoint is the service's endpoint as allocated by the leader.
type Endpoint struct {
	Spec EndpointSpec `json:"Spec"`
	// Ports are Spec's with the published ports filled in.
	Ports []PortConfig `json:"Ports,omitempty"`
	// VirtualIPs: one per network of the service (vip mode), allocated
	// from the overlay network's IPAM with endpoint ID "vip-<service-id>".
	VirtualIPs []EndpointVirtualIP `json:"VirtualIPs,omitempty"`
}

// EndpointVirtualIP is the service's VIP on one network.
type EndpointVirtualIP struct {
	NetworkID string `json:"NetworkID"`
	// Addr is CIDR: the VIP with its network's prefix length.
	Addr string `json:"Addr"`
	// berth: the network's name (overlay networks are named in the store).
	NetworkName string `json:"NetworkName,omitempty"`
}

// TaskSpec is the template of the service's tasks (Docker's
// swarm.TaskSpec).
type TaskSpec struct {
	ContainerSpec *ContainerSpec        `json:"ContainerSpec,omitempty"`
	Resources     *ResourceRequirements `json:"Resources,omitempty"`
	RestartPolicy *RestartPolicy        `json:"RestartPolicy,omitempty"`
	Placement     *Placement            `json:"Placement,omitempty"`
	// Networks the tasks attach to (overlay networks, by name or ID).
	Networks  []NetworkAttachmentConfig `json:"Networks,omitempty"`
	LogDriver *Driver                   `json:"LogDriver,omitempty"`
	// ForceUpdate: a change of this counter alone replaces every task
	// (`service update --force`).
	ForceUpdate uint64 `json:"ForceUpdate"`
}

// Driver is a log driver and its options.
type Driver struct {
	Name    string            `json:"Name,omitempty"`
	Options map[string]string `json:"Options,omitempty"`
}

// ContainerSpec is the container of each task (Docker's
// swarm.ContainerSpec, the fields berth runs).
type ContainerSpec struct {
	Image   string            `json:"Image"`
	Labels  map[string]string `json:"Labels,omitempty"`
	Command []string          `json:"Command,omitempty"`
	Args    []string          `json:"Args,omitempty"`
	// Hostname may use Docker's templates ({{.Service.Name}},
	// {{.Task.Slot}}, {{.Node.Hostname}}, ...).
	Hostname   string   `json:"Hostname,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Dir        string   `json:"Dir,omitempty"`
	User       string   `json:"User,omitempty"`
	Groups     []string `json:"Groups,omitempty"`
	Init       *bool    `json:"Init,omitempty"`
	StopSignal string   `json:"StopSignal,omitempty"`
	TTY        bool     `json:"TTY,omitempty"`
	OpenStdin  bool     `json:"OpenStdin,omitempty"`
	ReadOnly   bool     `json:"ReadOnly,omitempty"`
	// Mounts are --mount values (berth's MountSpec carries Docker's keys).
	Mounts          []container.MountSpec   `json:"Mounts,omitempty"`
	StopGracePeriod *time.Duration          `json:"StopGracePeriod,omitempty"`
	Healthcheck     *container.HealthConfig `json:"Healthcheck,omitempty"`
	// Hosts are extra /etc/hosts lines ("IP host..." as Docker's).
	Hosts          []string           `json:"Hosts,omitempty"`
	DNSConfig      *DNSConfig         `json:"DNSConfig,omitempty"`
	Sysctls        map[string]string  `json:"Sysctls,omitempty"`
	CapabilityAdd  []string           `json:"CapabilityAdd,omitempty"`
	CapabilityDrop []string           `json:"CapabilityDrop,omitempty"`
	Ulimits        []container.Ulimit `json:"Ulimits,omitempty"`
}

// DNSConfig is the tasks' resolver configuration.
type DNSConfig struct {
	Nameservers []string `json:"Nameservers,omitempty"`
	Search      []string `json:"Search,omitempty"`
	Options     []string `json:"Options,omitempty"`
}

// ResourceRequirements are the tasks' limits and reservations.
type ResourceRequirements struct {
	Limits *Limit `json:"Limits,omitempty"`
	// Reservations are what the scheduler sets aside on a node: a task
	// goes only to a node with that much CPU and memory unreserved.
	Reservations *Resources `json:"Reservations,omitempty"`
}

// Limit is a cgroup limit of each task.
type Limit struct {
	NanoCPUs    int64 `json:"NanoCPUs,omitempty"`
	MemoryBytes int64 `json:"MemoryBytes,omitempty"`
	Pids        int64 `json:"Pids,omitempty"`
}

// Resources are reserved CPU (in 1e-9 CPUs) and memory.
type Resources struct {
	NanoCPUs    int64 `json:"NanoCPUs,omitempty"`
	MemoryBytes int64 `json:"MemoryBytes,omitempty"`
}

// Restart conditions (Docker's).
const (
	RestartPolicyConditionNone      = "none"
	RestartPolicyConditionOnFailure = "on-failure"
	RestartPolicyConditionAny       = "any"
)

// RestartPolicy says when a task that ended is replaced by a new one.
type RestartPolicy struct {
	// Condition: none, on-failure or any (default).
	Condition string `json:"Condition,omitempty"`
	// Delay between the end of a task and its replacement (default 5 s).
	Delay *time.Duration `json:"Delay,omitempty"`
	// MaxAttempts (0: unlimited) within Window (0: ever).
	MaxAttempts *uint64        `json:"MaxAttempts,omitempty"`
	Window      *time.Duration `json:"Window,omitempty"`
}

// Placement says which nodes may run the tasks.
type Placement struct {
	// Constraints: node.id==, node.hostname==, node.role==
	// (manager|worker), node.labels.KEY==VALUE, and != of each.
	Constraints []string              `json:"Constraints,omitempty"`
	Preferences []PlacementPreference `json:"Preferences,omitempty"`
	// MaxReplicas per node (0: no limit).
	MaxReplicas uint64 `json:"MaxReplicas,omitempty"`
}

// PlacementPreference is one --placement-pref.
type PlacementPreference struct {
	Spread *SpreadOver `json:"Spread,omitempty"`
}

// SpreadOver spreads tasks evenly over the values of a node attribute
// (node.labels.KEY).
type SpreadOver struct {
	SpreadDescriptor string `json:"SpreadDescriptor"`
}

// NetworkAttachmentConfig is one network of the tasks.
type NetworkAttachmentConfig struct {
	// Target is the network's name or ID as given; stored as its name.
	Target     string            `json:"Target"`
	Aliases    []string          `json:"Aliases,omitempty"`
	DriverOpts map[string]string `json:"DriverOpts,omitempty"`
}

// Task states, in order (Docker's swarm.TaskState). berth's tasks go
// new → assigned → preparing → starting → running, then complete,
// failed, shutdown, rejected or orphaned (a down node's task).
const (
	TaskStateNew       = "new"
	TaskStateAllocated = "allocated"
	TaskStatePending   = "pending"
	TaskStateAssigned  = "assigned"
	TaskStateAccepted  = "accepted"
	TaskStatePreparing = "preparing"
	TaskStateReady     = "ready"
	TaskStateStarting  = "starting"
	TaskStateRunning   = "running"
	TaskStateComplete  = "complete"
	TaskStateShutdown  = "shutdown"
	TaskStateFailed    = "failed"
	TaskStateRejected  = "rejected"
	TaskStateRemove    = "remove"
	TaskStateOrphaned  = "orphaned"
)

var taskStateOrder = map[string]int{
	TaskStateNew: 0, TaskStateAllocated: 1, TaskStatePending: 2, TaskStateAssigned: 3,
	TaskStateAccepted: 4, TaskStatePreparing: 5, TaskStateReady: 6, TaskStateStarting: 7,
	TaskStateRunning: 8, TaskStateComplete: 9, TaskStateShutdown: 10, TaskStateFailed: 11,
	TaskStateRejected: 12, TaskStateRemove: 13, TaskStateOrphaned: 14,
}

// TaskStateOrder ranks a state (-1 for an unknown one): a task's state
// only moves forward.
func TaskStateOrder(state string) int {
	if o, ok := taskStateOrder[state]; ok {
		return o
	}
	return -1
}

// TaskStateTerminal reports whether a task in state is over (its
// container, if any, is stopped or gone).
func TaskStateTerminal(state string) bool {
	return TaskStateOrder(state) > TaskStateOrder(TaskStateRunning)
}

// Task is one instance of a service on a node (Docker's swarm.Task).
type Task struct {
	ID string `json:"ID"`
	Meta
	// Name is empty as in Docker (`service ps` shows SERVICE.SLOT).
	Name   string            `json:"Name,omitempty"`
	Labels map[string]string `json:"Labels,omitempty"`
	// Spec is the service's TaskTemplate the task was made from.
	Spec      TaskSpec `json:"Spec"`
	ServiceID string   `json:"ServiceID"`
	// Slot numbers a replicated service's tasks 1..replicas (a restarted
	// task keeps its slot); 0 for a global service's.
	Slot int `json:"Slot,omitempty"`
	// NodeID is the node the leader assigned the task to ("" while no
	// node fits: the task stays pending with a message saying why).
	NodeID       string     `json:"NodeID,omitempty"`
	Status       TaskStatus `json:"Status"`
	DesiredState string     `json:"DesiredState"`
	// NetworksAttachments: the task's address on each of its networks,
	// filled in by its node once the container has its legs.
	NetworksAttachments []NetworkAttachment `json:"NetworksAttachments,omitempty"`

	// berth: SpecVersion is the service's Version.Index the task's Spec
	// was taken from (a rolling update replaces older ones).
	SpecVersion uint64 `json:"SpecVersion,omitempty"`
	// berth: ServiceName, so that a node names the container and a
	// watcher resolves DNS without reading the service.
	ServiceName string `json:"ServiceName,omitempty"`
	// berth: RestartDelay is how long after its creation a task made
	// with DesiredState "ready" (a restart, or a stop-first update) may
	// be told to run.
	RestartDelay time.Duration `json:"RestartDelay,omitempty"`
}

// TaskStatus is what the node running the task last reported.
type TaskStatus struct {
	Timestamp       time.Time        `json:"Timestamp"`
	State           string           `json:"State"`
	Message         string           `json:"Message,omitempty"`
	Err             string           `json:"Err,omitempty"`
	ContainerStatus *ContainerStatus `json:"ContainerStatus,omitempty"`
	// PortStatus are the ports the task's container publishes on its
	// node (mode host; the routing mesh's ingress ports are the
	// service's, in none), as its node last reported them while it ran.
	PortStatus PortStatus `json:"PortStatus"`
	// berth: Health is the container's health ("" without a
	// healthcheck, else starting, healthy or unhealthy). Load balancing
	// sends traffic only to running tasks whose Health is "" or healthy.
	Health string `json:"Health,omitempty"`
}

// PortStatus is Docker's: a task's published ports.
type PortStatus struct {
	Ports []PortConfig `json:"Ports,omitempty"`
}

// ContainerStatus is the task's container.
type ContainerStatus struct {
	ContainerID string `json:"ContainerID,omitempty"`
	PID         int    `json:"PID,omitempty"`
	ExitCode    int    `json:"ExitCode"`
}

// NetworkAttachment is the task's leg on one network.
type NetworkAttachment struct {
	Network AttachedNetwork `json:"Network"`
	// Addresses are CIDR ("10.0.1.5/24").
	Addresses []string `json:"Addresses"`
}

// AttachedNetwork names the network of an attachment (Docker nests a
// whole swarm.Network; berth keeps its ID and name).
type AttachedNetwork struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
}

// Healthy reports whether the task may get traffic: it runs, and its
// healthcheck (if any) passed.
func (t *Task) Healthy() bool {
	return t.Status.State == TaskStateRunning && t.DesiredState == TaskStateRunning &&
		(t.Status.Health == "" || t.Status.Health == container.HealthHealthy)
}

// ListOptions filter `service ls` (Docker's filters: id, name, label,
// mode).
type ListOptions struct {
	Filters map[string][]string `json:"Filters,omitempty"`
	// Status fills each service's ServiceStatus.
	Status bool `json:"Status,omitempty"`
}

// TaskListOptions filter `service ps` / task listing (Docker's filters:
// id, name, node, desired-state, service, label).
type TaskListOptions struct {
	Filters map[string][]string `json:"Filters,omitempty"`
}

// UpdateOptions qualify an update.
type UpdateOptions struct {
	// Rollback returns to PreviousSpec (the spec argument is ignored).
	Rollback bool `json:"Rollback,omitempty"`
}

// CreateResponse is what Create returns.
type CreateResponse struct {
	ID       string   `json:"ID"`
	Warnings []string `json:"Warnings,omitempty"`
}

// LogEntry is one line of a task's output (`service logs` reads every
// task's container log with container.LogOptions).
type LogEntry struct {
	TaskID string `json:"TaskID"`
	NodeID string `json:"NodeID"`
	Slot   int    `json:"Slot,omitempty"`
	container.LogEntry
}
