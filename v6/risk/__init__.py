"""Risk: portfolio Greeks, stress scenarios and circuit breakers that gate new entries."""
