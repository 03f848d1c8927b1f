"""Socket.IO adapter: the default namespace's events mapped to the core's sessions (``server.py``), the core's
``Wire`` port (``wire.py``), and the lean WebSocket transport under python-socketio (``transport.py``,
``frames.py``, ``lightqueue.py``)."""

from .server import SocketIOServer, StaleMessageFilter, socketio_server
from .transport import check_internals
from .wire import SocketIOWire

__all__ = ["SocketIOServer", "SocketIOWire", "StaleMessageFilter", "check_internals", "socketio_server"]
