"""Casino-Club's provably fair games, as pure functions: no I/O, no clock, no database.

`fairness` turns a revealed seed into floats; `slot` and `gacha` turn floats into outcomes.
The service (other modules) stores seeds, nonces, counters and results around them.
"""
