"""Pixels: decoding and checking provider output, measures, renditions, and the CPU gate
for image work."""
