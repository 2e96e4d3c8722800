"""`charwise serve`: a local web page to sample from runs and look inside them."""

from .app import ServeLimits, create_app

__all__ = ["ServeLimits", "create_app"]
