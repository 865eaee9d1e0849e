"""Extensions created unbound; create_app binds them with init_app. Also how pooled database
connections are checked before use."""

import time

import sqlalchemy as sa
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints so that Alembic can alter and drop them (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


# A connection that sat in the pool longer than this is tested with a cheap round trip before a
# request gets it; one in steady use is not (pool_pre_ping would cost a round trip per request).
# A database restarted under steady use fails at most the requests that held a connection then:
# SQLAlchemy invalidates the whole pool on the first disconnect it sees.
PING_AFTER_IDLE_SECONDS = 10.0


@sa.event.listens_for(sa.pool.Pool, "checkin")
def _checked_in(dbapi_connection, connection_record) -> None:
    if connection_record is not None:
        connection_record.info["checked_in_at"] = time.monotonic()


@sa.event.listens_for(sa.pool.Pool, "checkout")
def ping_if_idle(dbapi_connection, connection_record, connection_proxy) -> None:
    """Test a connection idle for PING_AFTER_IDLE_SECONDS; a dead one is replaced (the pool
    retries the checkout with a fresh connection when this raises DisconnectionError)."""
    since = connection_record.info.get("checked_in_at")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # hand it over outside a transaction, as the pool keeps it
    except Exception as err:  # noqa: BLE001 - any failure: the connection is not usable
        raise sa.exc.DisconnectionError() from err
