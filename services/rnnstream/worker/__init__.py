"""The streaming worker: faust agents, settings, metrics and the HTTP endpoints."""
