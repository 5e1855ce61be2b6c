"""Subcommands of the ``chainrule`` command line, one module per subcommand.

Each module defines ``NAME`` (the subcommand), ``HELP`` (one line for ``chainrule -h``),
``add_arguments(parser)`` and ``run(args) -> int`` (the exit status). Heavy imports
(matplotlib, starlette, the data sets) happen inside ``run`` so that ``chainrule -h`` and
every other subcommand start quickly. ``chainrule.cli`` lists the modules by name.
"""
