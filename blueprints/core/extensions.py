"""Unbound extensions, bound to the app in create_app()."""

from flask_caching import Cache
from flask_compress import Compress
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect

cache = Cache()
compress = Compress()
login_manager = LoginManager()
migrate = Migrate()
csrf = CSRFProtect()
