"""flask-prodready: make a Flask app production-ready in one line.

::

    from flask import Flask
    from flask_prodready import ProdReady

    app = Flask(__name__)
    ProdReady(app)
"""

from ._version import __version__ as __version__
from .exceptions import ConfigError as ConfigError
from .exceptions import ConfigProblem as ConfigProblem
from .exceptions import NotInitialisedError as NotInitialisedError
from .exceptions import ProdReadyError as ProdReadyError
from .exceptions import SetupError as SetupError
from .extension import ProdReady as ProdReady
from .extension import ProdReadyState as ProdReadyState
from .extension import get_state as get_state
from .redaction import REDACTED as REDACTED
from .redaction import is_secret_key as is_secret_key
from .redaction import redact as redact
from .snapshots import MetricsSnapshot as MetricsSnapshot
from .snapshots import RouteStats as RouteStats
from .snapshots import SeriesPoint as SeriesPoint
from .snapshots import metrics_snapshot as metrics_snapshot

__all__ = [
    "REDACTED",
    "ConfigError",
    "ConfigProblem",
    "MetricsSnapshot",
    "NotInitialisedError",
    "ProdReady",
    "ProdReadyError",
    "ProdReadyState",
    "RouteStats",
    "SeriesPoint",
    "SetupError",
    "__version__",
    "get_state",
    "is_secret_key",
    "metrics_snapshot",
    "redact",
]
