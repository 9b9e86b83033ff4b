package system

// Info is the daemon-wide summary shown by `berth info` and `berth version`.
type Info struct {
	ID                string `json:"ID"`
	Name              string `json:"Name"` // host name
	Containers        int    `json:"Containers"`
	ContainersRunning int    `json:"ContainersRunning"`
	ContainersPaused  int    `json:"ContainersPaused"`
	ContainersStopped int    `json:"ContainersStopped"`
	Images            int    `json:"Images"`
	ServerVersion     string `json:"ServerVersion"`
	ContainerdVersion string `json:"ContainerdVersion"`
	ContainerdAddress string `json:"ContainerdAddress"`
	Namespace         string `json:"Namespace"`
	DefaultRuntime    string `json:"DefaultRuntime"`
	Snapshotter       string `json:"Snapshotter"`
	RootDir           string `json:"RootDir"`
	StateDir          string `json:"StateDir"`
	KernelVersion     string `json:"KernelVersion"`
	OperatingSystem   string `json:"OperatingSystem"`
	Architecture      string `json:"Architecture"`
	NCPU              int    `json:"NCPU"`
	MemTotal          int64  `json:"MemTotal"`
	CgroupVersion     string `json:"CgroupVersion"`
	LoggingDriver     string `json:"LoggingDriver"`
	// CDISpecDirs are the directories CDI specs are read from (empty: CDI
	// off); CDIDevices the fully-qualified names of the devices found.
	CDISpecDirs []string `json:"CDISpecDirs"`
	CDIDevices  []string `json:"CDIDevices"`
}

// Version is `berth version`'s server part.
type Version struct {
	Version           string `json:"Version"`
	APIVersion        string `json:"ApiVersion"`
	GoVersion         string `json:"GoVersion"`
	GitCommit         string `json:"GitCommit"`
	Os                string `json:"Os"`
	Arch              string `json:"Arch"`
	ContainerdVersion string `json:"ContainerdVersion"`
	RuncVersion       string `json:"RuncVersion"`
}
