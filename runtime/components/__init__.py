"""Inference components on the supervisor's side: copies as supervisor units, idleness and wakes, the routes."""
