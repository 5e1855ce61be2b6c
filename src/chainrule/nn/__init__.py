"""Neural-network building blocks: modules (layers), losses and initialisation."""
from . import functional  # noqa: F401
