"""`make bench`: performance figures of the flight software, written to out/bench.json.

Each benchmark module registers figures (key, value, unit, limit) through ``BENCHES``;
``python -m bench`` runs them all, merges them into out/bench.json and prints a table
with each figure's limit and whether it holds.
"""
