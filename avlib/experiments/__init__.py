"""Experiment runners: the train-or-load grids that the chapters call."""
