"""Progress lines of long one-off passes: at most one per interval, with the time left."""

from trainers.progress import Progress, advance


def test_a_line_at_most_every_interval_with_elapsed_and_time_left():
    now, lines = [0.0], []
    progress = Progress("embedding", 300_000, every=10.0, out=lines.append, clock=lambda: now[0])
    now[0] = 5.0
    progress.advance(1_000)
    assert lines == []  # sooner than the interval: nothing
    now[0] = 30.0
    progress.advance(29_000)
    now[0] = 35.0
    progress.advance(5_000)
    assert lines == ["embedding: 30,000 of 300,000 (10%), 30 s so far, about 4 min 30 s left"]
    now[0] = 3600.0
    progress.advance(265_000)
    assert lines[-1] == "embedding: 300,000 of 300,000 (100%), 1 h 00 min so far, about 0 s left"


def test_no_progress_object_is_fine():
    advance(None, 10)
