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
from .health import CheckOutcome as CheckOutcome
from .health import HealthReport as HealthReport
from .health import HealthResult as HealthResult
from .health import HealthRunner as HealthRunner
from .health import HealthStatus as HealthStatus
from .health import get_health as get_health
from .health import register_check as register_check
from .redaction import REDACTED as REDACTED
from .redaction import is_secret_key as is_secret_key
from .redaction import redact as redact

__all__ = [
    "REDACTED",
    "CheckOutcome",
    "ConfigError",
    "ConfigProblem",
    "HealthReport",
    "HealthResult",
    "HealthRunner",
    "HealthStatus",
    "NotInitialisedError",
    "ProdReady",
    "ProdReadyError",
    "ProdReadyState",
    "SetupError",
    "__version__",
    "get_health",
    "get_state",
    "is_secret_key",
    "redact",
    "register_check",
]
