"""Actor and learner loops, the wire format and transports, checkpoints and metrics."""
