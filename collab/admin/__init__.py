"""Admin adapter: the live sessions dashboard, its JSON API and Socket.IO namespace, Prometheus metrics and
`collab sessions`."""
