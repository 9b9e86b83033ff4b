module github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus

go 1.26.8

require (
	github.com/prometheus/client_golang v1.23.2
	google.golang.org/grpc v1.83.2
)
