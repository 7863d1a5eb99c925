"""Simulation entry points: forward runs and evaluation."""
