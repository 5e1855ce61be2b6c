"""Progress display for training: one bar per epoch, or nothing.

The bar (tqdm, imported only when a bar is really shown) appears when ``enabled`` and the
output stream is a terminal, or in a Jupyter notebook (``tqdm.auto`` then draws its widget,
updated in place; ``pip install 'chainrule[notebook]'`` brings ipywidgets); redirected to a
file or a pipe (CI logs, ``> log.txt``) it stays silent, so logs hold one clean summary line
per epoch instead of carriage returns.
"""
from __future__ import annotations

import sys
from typing import Any, TextIO


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


_warned_widgets = False


def _has_widgets() -> bool:
    """Whether ipywidgets (tqdm's notebook widget) is installed; warns once when it is not."""
    global _warned_widgets
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is not None:
        return True
    if not _warned_widgets:
        _warned_widgets = True
        import warnings

        warnings.warn("the live progress bar in notebooks needs ipywidgets: pip install 'chainrule[notebook]' "
                      "(showing a text bar instead)", stacklevel=4)
    return False


class EpochProgress:
    """A progress bar over the batches of one epoch.

    ``update(n_batches=1, **postfix)`` advances it and shows e.g. ``loss=0.213 acc=0.94``;
    ``close()`` clears the bar (fit then prints the epoch's summary line);
    ``write(line)`` prints a line without breaking the bar.
    """

    def __init__(self, total: int | None, desc: str, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bar: Any = None
        from ..display import in_notebook

        notebook = enabled and in_notebook()
        if enabled and (_is_tty(self.stream) or notebook):
            try:
                if notebook and not _has_widgets():  # text bar, and say which extra draws the widget
                    from tqdm.std import tqdm
                else:
                    from tqdm.auto import tqdm
            except ImportError:  # tqdm is a dependency, but a bar is never worth a crash
                tqdm = None
            if tqdm is not None:
                # leave=False: the bar gives way to fit's one-line summary of the epoch
                self.bar = tqdm(total=total, desc=desc, unit="batch", leave=False,
                                file=self.stream, dynamic_ncols=True, mininterval=0.2)

    @property
    def active(self) -> bool:
        return self.bar is not None

    def update(self, n: int = 1, **postfix: float) -> None:
        if self.bar is None:
            return
        self.bar.update(n)
        if postfix:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def set_postfix(self, **postfix: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()})

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["EpochProgress"]
