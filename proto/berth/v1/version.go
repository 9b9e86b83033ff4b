package berthv1

// APIVersion is the version of the berth.v1 API described by these
// messages. It changes (minor) when calls or fields are added; berth.v1 is
// never changed incompatibly.
const APIVersion = "1.0"
