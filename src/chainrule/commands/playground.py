"""``chainrule playground``: a local web page where a network learns, live, on chainrule.

Starts the playground server (Starlette on uvicorn, in the ``playground`` extra) on
127.0.0.1 unless ``--host`` says otherwise, and opens the page in the default browser unless
``--no-browser``. Stops with Ctrl+C.
"""
from __future__ import annotations

import argparse

NAME = "playground"
HELP = "open the playground: watch backpropagation train a network, live in the browser"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder with the MNIST files for the MNIST tab (default: the cache; "
                             "the bundled 8x8 digits when absent)")


def run(args: argparse.Namespace) -> int:
    from ..playground import serve

    serve(host=args.host, port=args.port, open_browser=not args.no_browser, data_dir=args.data_dir)
    return 0
