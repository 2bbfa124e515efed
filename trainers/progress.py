"""Progress lines for one-off frozen passes that can take minutes (a novel bank of 10^5 names).

A 300,000-name bank is tokenized and run through the text tower before training starts; with
nothing printed, that looks like a hang. A line at most every ``every`` seconds says how far the
pass is, how long it has run and about how long it has left. A pass that ends sooner prints
nothing, so the logs of ordinary runs do not change.
"""

import time


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """``what``: done of total (percent), time so far and the time left at the rate so far."""

    def __init__(self, what, total, every=10.0, out=print, clock=time.monotonic):
        self.what, self.total, self.every, self.out, self.clock = what, total, every, out, clock
        self.start = self.last = clock()
        self.done = 0

    def advance(self, count):
        self.done += count
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.start
        left = elapsed * (self.total - self.done) / self.done if self.done else 0.0
        percent = 100.0 * self.done / self.total if self.total else 100.0
        self.out(f"{self.what}: {self.done:,} of {self.total:,} ({percent:.0f}%), "
                 f"{_duration(elapsed)} so far, about {_duration(left)} left")


def advance(progress, count):
    """``progress.advance(count)``, for callers whose progress may be None."""
    if progress is not None:
        progress.advance(count)
