"""Image quality over time: the drift report and its alerts."""
