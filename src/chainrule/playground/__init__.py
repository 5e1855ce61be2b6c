"""The playground: watch backpropagation train a network, live in the browser.

``chainrule playground`` (or :func:`serve`) starts a local server; the page it serves trains a
small network on a 2-D data set -- or an MLP on MNIST -- in chainrule, on the server, and draws
the decision boundary, every neuron, every weight and its gradient as training goes.

Needs the ``playground`` extra (Starlette, uvicorn, websockets); importing this package does not.
"""
from __future__ import annotations

from .server import create_app, serve

__all__ = ["serve", "create_app"]
