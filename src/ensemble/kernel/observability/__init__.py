"""JSON logs with trace ids, Prometheus metrics, health and readiness."""
