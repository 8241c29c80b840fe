"""What operators watch: Prometheus metrics and the log formats."""
