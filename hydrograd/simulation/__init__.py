"""Runs on plain data: the core's inputs from grid maps, the forward run, outputs on the grid,
costs and evaluation metrics."""
