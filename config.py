"""pyinfra configuration for every mailforge run."""

REQUIRE_PYINFRA_VERSION = ">=3.10,<4"
# Package installs and Certbot can take minutes on a slow mirror; no single command should hang forever.
CONNECT_TIMEOUT = 10
