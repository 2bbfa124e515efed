"""What every entry point needs before it builds a trainer: registration and the run guard.

``launch.registration`` registers every trainer and dataset with Dassl; ``launch.guard`` is how
train.py stops (one line, the conventional exit code, no half-made folder), holding the run
folder's writer lock (``launch.run_lock``); ``launch.lifeline`` ends a train.py whose runner has
ended. Programs import these instead of each other, so no program is imported for its side
effects. ``launch.cli`` is what the Python command lines share (where the KEY VALUE pairs start,
the help layout, a quiet end when stdout's reader leaves); ``launch.run_record`` records the
options a run was asked for, so a finished run is reused only for the same request.
"""
