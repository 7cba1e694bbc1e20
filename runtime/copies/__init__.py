"""Inference components on the supervisor's side: their copies as supervisor units, idleness and wakes, and
their part of the routing table (runtime.components holds what both sides share)."""
