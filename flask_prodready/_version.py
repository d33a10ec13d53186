"""The version of flask-prodready, read by packaging and by :data:`flask_prodready.__version__`."""

__version__ = "0.1.0.dev0"
