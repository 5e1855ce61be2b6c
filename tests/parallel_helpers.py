"""Test helper: make every op that can split its batch over threads do so, even for the tiny
arrays of a gradcheck (the split is normally kept for arrays of a megabyte or more)."""
import contextlib

import chainrule.parallel as parallel


@contextlib.contextmanager
def split_everything(threads: int = 3):
    threshold, before = parallel.MIN_PARALLEL_ELEMENTS, parallel.get_num_threads()
    parallel.MIN_PARALLEL_ELEMENTS = 1
    parallel.set_num_threads(threads)
    try:
        yield
    finally:
        parallel.MIN_PARALLEL_ELEMENTS = threshold
        parallel.set_num_threads(before)
