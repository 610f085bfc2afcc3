"""The equation-module contract: binding by name, conditions, gauges, references."""
