module github.com/docker/go-metrics

go 1.26.8
