"""Reviewers' work: decisions, the review queue, comments and pins, side-by-side comparison."""
