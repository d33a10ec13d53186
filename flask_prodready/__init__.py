"""flask-prodready: make a Flask app production-ready in one line.

::

    from flask import Flask
    from flask_prodready import ProdReady

    app = Flask(__name__)
    ProdReady(app)
"""

from ._version import __version__ as __version__
from .errors import AppError as AppError
from .errors import BadRequestError as BadRequestError
from .errors import ConflictError as ConflictError
from .errors import DependencyError as DependencyError
from .errors import ForbiddenError as ForbiddenError
from .errors import NotFoundError as NotFoundError
from .errors import RateLimitedError as RateLimitedError
from .errors import UnauthorizedError as UnauthorizedError
from .errors import ValidationError as ValidationError
from .exceptions import ConfigError as ConfigError
from .exceptions import ConfigProblem as ConfigProblem
from .exceptions import NotInitialisedError as NotInitialisedError
from .exceptions import ProdReadyError as ProdReadyError
from .exceptions import SetupError as SetupError
from .extension import ProdReady as ProdReady
from .health import CheckOutcome as CheckOutcome
from .health import HealthReport as HealthReport
from .health import HealthResult as HealthResult
from .health import HealthRunner as HealthRunner
from .health import HealthStatus as HealthStatus
from .health import get_health as get_health
from .health import register_check as register_check
from .jobs import JobRun as JobRun
from .jobs import job as job
from .logs import flush_logs as flush_logs
from .logs import get_log_level as get_log_level
from .logs import set_log_level as set_log_level
from .redaction import REDACTED as REDACTED
from .redaction import is_secret_key as is_secret_key
from .redaction import redact as redact
from .request_id import bind_context as bind_context
from .request_id import current_trace as current_trace
from .request_id import outgoing_headers as outgoing_headers
from .request_id import request_id as request_id
from .snapshots import MetricsSnapshot as MetricsSnapshot
from .snapshots import RouteStats as RouteStats
from .snapshots import SeriesPoint as SeriesPoint
from .snapshots import metrics_snapshot as metrics_snapshot
from .sql import RepeatedQueryError as RepeatedQueryError
from .sql import watch_sql as watch_sql
from .state import ProdReadyState as ProdReadyState
from .state import get_state as get_state

__all__ = [
    "REDACTED",
    "AppError",
    "BadRequestError",
    "CheckOutcome",
    "ConfigError",
    "ConfigProblem",
    "ConflictError",
    "DependencyError",
    "ForbiddenError",
    "HealthReport",
    "HealthResult",
    "HealthRunner",
    "HealthStatus",
    "JobRun",
    "MetricsSnapshot",
    "NotFoundError",
    "NotInitialisedError",
    "ProdReady",
    "ProdReadyError",
    "ProdReadyState",
    "RateLimitedError",
    "RepeatedQueryError",
    "RouteStats",
    "SeriesPoint",
    "SetupError",
    "UnauthorizedError",
    "ValidationError",
    "__version__",
    "bind_context",
    "current_trace",
    "flush_logs",
    "get_health",
    "get_log_level",
    "get_state",
    "is_secret_key",
    "job",
    "metrics_snapshot",
    "outgoing_headers",
    "redact",
    "register_check",
    "request_id",
    "set_log_level",
    "watch_sql",
]
