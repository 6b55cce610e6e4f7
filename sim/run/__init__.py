"""The simulator's runner layer: above hal/sim (it builds the simulated board and flies
the flight application on it), below nothing.  sim/*.py physics never imports it; hal/sim
never imports it (tests/test_sim_layering.py)."""
