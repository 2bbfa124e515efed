"""What every entry point needs before it builds a trainer: registration and the run guard.

``launch.registration`` registers every trainer and dataset with Dassl; ``launch.guard`` is how
train.py stops (one line, the conventional exit code, no half-made folder), holding the run
folder's writer lock (``launch.run_lock``); ``launch.lifeline`` ends a train.py whose runner has
ended. Programs import these instead of each other, so no program is imported for its side
effects.
"""
